-- trackkit schema, version 2: API tokens, and the sync offset of each run.
--
-- API tokens (server/auth.py): a token is a random secret shown once, at `trackkit server token
-- create`; only its SHA-256 is kept. Auth is on as soon as one token exists. A revoked token's row
-- is deleted. The token's name is recorded as the author of the runs it writes.
CREATE TABLE api_tokens (
    name        text PRIMARY KEY,
    token_hash  text NOT NULL UNIQUE,              -- hex sha256 of the secret
    read_only   boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Resumable sync (server/ingest.py): how many lines of the client's local history.jsonl the server
-- has committed for this run. A batch carries the offset of its first row; rows below this offset
-- were committed before (a replay) and are skipped, in the same transaction that inserts the rest
-- and moves the offset.
-- sync_system_offset does the same for the lines of the client's system.jsonl (system metrics).
ALTER TABLE runs ADD COLUMN sync_offset bigint NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN sync_system_offset bigint NOT NULL DEFAULT 0;
-- The newest batch stamp (the client's clock when it built the batch) whose document changes were
-- merged: a batch delivered late carries older changes, and they are not merged over newer ones.
ALTER TABLE runs ADD COLUMN sync_stamp float8;
