-- Files, the chunks they are split into, and the events parsed from them.

CREATE TABLE files (
    id              uuid PRIMARY KEY,
    name            text NOT NULL,          -- as the user gave it; never used as a path
    object_key      text NOT NULL UNIQUE,   -- chosen by the server (or the key of a foreign object)
    etag            text,
    content_type    text,
    size_declared   bigint,
    size            bigint,
    upload_kind     text NOT NULL CHECK (upload_kind IN ('post', 'multipart', 'external')),
    multipart_id    text,
    status          text NOT NULL DEFAULT 'awaiting_upload'
                    CHECK (status IN ('awaiting_upload', 'queued', 'processing', 'done', 'failed')),
    compression     text,
    chunk_bytes     bigint,
    chunks_total    integer,                -- NULL until planning has finished
    chunks_done     integer NOT NULL DEFAULT 0,
    lines           bigint NOT NULL DEFAULT 0,
    events          bigint NOT NULL DEFAULT 0,
    errors          bigint NOT NULL DEFAULT 0,
    truncated_lines bigint NOT NULL DEFAULT 0,
    error           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    queued_at       timestamptz,
    finished_at     timestamptz
);
CREATE INDEX files_created_at ON files (created_at DESC);

-- A chunk is a newline-aligned byte range of the object (a gzip object is one chunk).
-- next_offset/next_line are the resume point: they move forward in the same
-- transaction that writes the events before them, which is what makes redelivery safe.
CREATE TABLE chunks (
    file_id      uuid NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    seq          integer NOT NULL,
    start_offset bigint NOT NULL,
    end_offset   bigint NOT NULL,
    first_line   bigint NOT NULL,
    next_offset  bigint NOT NULL,
    next_line    bigint NOT NULL,
    done         boolean NOT NULL DEFAULT false,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (file_id, seq)
);

-- ts is the line's own time in UTC; where the line has none it is the ingest time and
-- ts_inferred says so. Partitioned by ts (monthly partitions, created on demand; the
-- default partition catches anything else so that no row is ever refused).
CREATE TABLE events (
    file_id     uuid NOT NULL,
    line        bigint NOT NULL,
    ts          timestamptz NOT NULL,
    ts_inferred boolean NOT NULL,
    ingested_at timestamptz NOT NULL,
    level       text,
    format      text NOT NULL,
    message     text NOT NULL,
    fields      jsonb,
    raw         text,                        -- the line as read, where it differs from message
    truncated   boolean NOT NULL DEFAULT false
) PARTITION BY RANGE (ts);
CREATE TABLE events_default PARTITION OF events DEFAULT;
CREATE INDEX events_file_line ON events (file_id, line);
