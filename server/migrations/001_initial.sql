-- trackkit schema, version 1: runs, their history, system metrics and files.
--
-- Read top to bottom; server/migrate.py applies each numbered file once, in one transaction, under
-- an advisory lock, and records it in trackkit_schema. Values follow the round-2 decisions:
-- numbers of a history are float8 (NaN and +-Infinity kept as such); JSONB documents carry
-- non-finite floats as the strings "NaN", "Infinity" and "-Infinity".

-- ---------------------------------------------------------------------------------------------
-- Helpers for filters and ordering over JSONB values (used by query_runs; IMMUTABLE so that they
-- can appear in expression indexes).

-- A JSON value as a float8 when it is a number (or one of the non-finite strings), else NULL.
CREATE FUNCTION tk_num(value jsonb) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN jsonb_typeof(value) = 'number' THEN (value #>> '{}')::float8
        WHEN jsonb_typeof(value) = 'string' AND value #>> '{}' IN ('NaN', 'Infinity', '-Infinity')
            THEN (value #>> '{}')::float8
    END
$$;

-- The ordering class of a value: 0 numbers, 1 strings, 2 booleans and others, 3 missing/null/NaN.
-- Sorting puts the class first (always ascending), so missing values and NaN come last both ways.
CREATE FUNCTION tk_rank(value jsonb) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN value IS NULL OR jsonb_typeof(value) = 'null' THEN 3
        WHEN jsonb_typeof(value) = 'number' THEN 0
        WHEN jsonb_typeof(value) = 'string' THEN
            CASE value #>> '{}' WHEN 'NaN' THEN 3 WHEN 'Infinity' THEN 0 WHEN '-Infinity' THEN 0 ELSE 1 END
        ELSE 2
    END
$$;

-- ---------------------------------------------------------------------------------------------
-- Runs. A row exists from open_run on; it is listed once its metadata has been written.
CREATE TABLE runs (
    pk              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project         text NOT NULL,
    run_id          text NOT NULL,
    meta            jsonb,                         -- the run's metadata (NULL until write_meta)
    created_at      float8,                        -- meta.created_at, epoch seconds (sorting, ties)
    activity_at     float8,                        -- last row, heartbeat, edit or finish (epoch s)
    -- config and summary: the document as written (json keeps the key order a user sees), the
    -- values again as jsonb for filters on whole subtrees, and flattened for the GIN index
    config          json NOT NULL DEFAULT '{}',    -- the config values tree, in written order
    config_doc      json NOT NULL DEFAULT '{}',    -- the rest of the config document (provenance, changes)
    config_has_values boolean NOT NULL DEFAULT false,
    config_tree     jsonb NOT NULL DEFAULT '{}',   -- the values tree again, for filters
    config_flat     jsonb NOT NULL DEFAULT '{}',   -- one entry per dotted leaf path ("optim.lr")
    summary         json NOT NULL DEFAULT '{}',
    summary_doc     json NOT NULL DEFAULT '{}',
    summary_has_values boolean NOT NULL DEFAULT false,
    summary_tree    jsonb NOT NULL DEFAULT '{}',
    summary_flat    jsonb NOT NULL DEFAULT '{}',
    -- the single writer: whoever holds an unexpired lease writes; the others get RunInUseError
    lease_writer    text,
    lease_until     timestamptz,
    next_seq        bigint NOT NULL DEFAULT 0,     -- sequence number of the next history row
    next_system_seq bigint NOT NULL DEFAULT 0,
    UNIQUE (project, run_id)
);
-- The number of the last generated run name per project (init names runs "<adjective>-<noun>-<n>"
-- without counting the project's runs).
CREATE TABLE run_counters (
    project     text PRIMARY KEY,
    last_number bigint NOT NULL
);

CREATE INDEX runs_project_created ON runs (project, created_at, run_id);
-- jsonb_path_ops GIN indexes serve the containment (@>) tests that equality filters compile to.
CREATE INDEX runs_config_flat ON runs USING gin (config_flat jsonb_path_ops);
CREATE INDEX runs_summary_flat ON runs USING gin (summary_flat jsonb_path_ops);
CREATE INDEX runs_meta ON runs USING gin (meta jsonb_path_ops);

-- ---------------------------------------------------------------------------------------------
-- History: one row per logged row (its exact JSON text, for scan_history), and one narrow point per
-- numeric value (for sample_history: min/max buckets computed here, reading one key only).
--   dropped     a checkpoint row that a later version of it replaced (never shown)
--   superseded  a row after the step a run was rewound to (shown with include_superseded)
CREATE TABLE history_rows (
    run_pk      bigint NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
    seq         bigint NOT NULL,
    step        bigint,
    ts          float8,
    runtime     float8,
    checkpoint  text,                              -- the row's _partial id, if it is a checkpoint
    dropped     boolean NOT NULL DEFAULT false,
    superseded  boolean NOT NULL DEFAULT false,
    data        json NOT NULL,                     -- the row as logged (json: key order kept)
    PRIMARY KEY (run_pk, seq)
);
CREATE INDEX history_rows_checkpoint ON history_rows (run_pk, checkpoint) WHERE checkpoint IS NOT NULL;

-- Every key of a run's history, with its counters kept at ingest (history_keys never scans).
-- key_id numbers the keys of one run; _step, _timestamp and _runtime have rows too (their
-- min/max give a run's default sampling range) but are not listed.
CREATE TABLE history_keys (
    run_pk      bigint NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
    key_id      int NOT NULL,
    key         text NOT NULL,
    count       bigint NOT NULL DEFAULT 0,
    first_step  bigint,
    last_step   bigint,
    types       smallint NOT NULL DEFAULT 0,       -- bits of the values seen: 1 number, 2 string, 4 other
    min_value   float8,                            -- finite numeric values only
    max_value   float8,
    PRIMARY KEY (run_pk, key_id),
    UNIQUE (run_pk, key)
);

CREATE TABLE history_points (
    run_pk      bigint NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
    key_id      int NOT NULL,
    seq         bigint NOT NULL,
    step        bigint,
    value       float8 NOT NULL,
    dropped     boolean NOT NULL DEFAULT false,
    superseded  boolean NOT NULL DEFAULT false,
    PRIMARY KEY (run_pk, key_id, seq)
);

-- ---------------------------------------------------------------------------------------------
-- System metrics: a second row stream keyed by wall time, small (a row every few seconds).
CREATE TABLE system_rows (
    run_pk      bigint NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
    seq         bigint NOT NULL,
    ts          float8,
    data        json NOT NULL,
    PRIMARY KEY (run_pk, seq)
);

-- ---------------------------------------------------------------------------------------------
-- Files a run owns. The bytes live in a FileStore (a directory under --files-dir today, an
-- object store later); this table is the listing.
CREATE TABLE run_files (
    run_pk      bigint NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
    name        text NOT NULL,
    size        bigint NOT NULL,
    updated_at  float8 NOT NULL,
    PRIMARY KEY (run_pk, name)
);
