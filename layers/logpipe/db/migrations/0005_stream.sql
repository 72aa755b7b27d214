-- Where each event came from, and the stream log that live readers follow.

-- 'upload' for uploaded files; webhook deliveries and CI logs bring their own sources.
ALTER TABLE files ADD COLUMN source text NOT NULL DEFAULT 'upload';
ALTER TABLE events ADD COLUMN source text NOT NULL DEFAULT 'upload';

-- One entry per committed change that a live reader should see: a batch of events
-- (the lines [first_line, end_line) of a file, with the file's counters after it), a
-- file's change of status, and later webhook deliveries. An entry is written in the
-- transaction of the rows it announces, with no position; after that transaction
-- commits, a sequencer gives positions to committed entries, one sequencer at a time
-- (db/stream.py says why that makes "everything after position N" safe to read).
CREATE TABLE stream_log (
    id           bigserial PRIMARY KEY,
    pos          bigint UNIQUE,
    kind         text NOT NULL,
    file_id      uuid,
    first_line   bigint,
    end_line     bigint,
    data         jsonb,
    written_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX stream_log_unsequenced ON stream_log (id) WHERE pos IS NULL;
