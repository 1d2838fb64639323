-- trackkit schema, version 3: edits of a run made from outside its writer (the Api, the CLI, the UI).
--
-- Each edit is one record (trackkit._edits.make_edit: changed run fields, config keys set or
-- deleted, summary keys set or deleted), numbered 1, 2, ... per run. The run's documents say how
-- far into these numbers they have merged (their "edits_applied"); a live writer reads the ones
-- after its cursor each cycle (RunSink.read_edits) and merges them, so its own writes keep them.
CREATE TABLE run_edits (
    run_pk      bigint NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
    n           bigint NOT NULL,                   -- the cursor after this edit
    edit        json NOT NULL,
    PRIMARY KEY (run_pk, n)
);
