-- The search index and the per-minute counts, written off the ingest path by followers
-- of the stream log (db/followers.py, search/indexer.py say how).

-- Where each follower of the stream log has got to: every entry with a position at or
-- below ``pos`` has been handled, and what handling it wrote was committed in the same
-- transaction as this row.
CREATE TABLE stream_followers (
    name        text PRIMARY KEY,
    pos         bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per 'events' entry of the stream log (a block: the lines [first_line,
-- end_line) of one file, committed together), with what a query needs to skip it:
-- its time range (and its slices'), its events by level, its sources, and a Bloom filter of its tokens
-- (search/bloom.py: words of the messages as search/query.py cuts them, and pattern
-- ids). A block with no events gets no row.
CREATE TABLE search_blocks (
    pos          bigint PRIMARY KEY,       -- the stream_log entry
    file_id      uuid NOT NULL,
    first_line   bigint NOT NULL,
    end_line     bigint NOT NULL,
    ts_min       timestamptz NOT NULL,
    ts_max       timestamptz NOT NULL,
    events       integer NOT NULL,
    levels       integer[] NOT NULL,       -- events per level: trace..fatal, then no level
    sources      text[] NOT NULL,
    segments     integer NOT NULL,         -- the filter is this many 64-byte segments
    bloom        bytea NOT NULL,
    -- Slices of SLICE_LINES lines from first_line (db/search.py): the time range and
    -- events of each slice holding any, so that a query reads only the slices of a
    -- block that can reach its page.
    slices       integer[] NOT NULL,       -- slice numbers, 0 first
    slice_min    bigint[] NOT NULL,        -- microseconds since 1970 (cheaper to read than times)
    slice_max    bigint[] NOT NULL,
    slice_events integer[] NOT NULL
);
-- Uncompressed out of line: a query reads one 64-byte slice per term, and PostgreSQL
-- fetches only the slice of a value stored this way.
ALTER TABLE search_blocks ALTER COLUMN bloom SET STORAGE EXTERNAL;
CREATE INDEX search_blocks_ts_min ON search_blocks (ts_min);
CREATE INDEX search_blocks_ts_max ON search_blocks (ts_max);
CREATE INDEX search_blocks_file ON search_blocks (file_id, first_line);

-- Events per minute of their ts, level, source and file: what histograms read. Rows
-- only ever grow by what a follower adds, once per stream entry. A general table for
-- rollups: more dimensions go in their own tables, keyed the same way.
CREATE TABLE rollup_minutes (
    minute   timestamptz NOT NULL,
    level    text,
    source   text NOT NULL,
    file_id  uuid NOT NULL,
    events   bigint NOT NULL,
    CONSTRAINT rollup_minutes_key UNIQUE NULLS NOT DISTINCT (minute, level, source, file_id)
);

-- Top-level keys of the events' fields seen so far, for the answer to a fields.KEY
-- filter whose KEY no event has.
CREATE TABLE search_field_keys (
    key text PRIMARY KEY
);

-- Events written before the stream log existed get entries of their own, in blocks of
-- 5,000 lines, so that every event belongs to exactly one 'events' entry: the search
-- reads events through those entries. The sequencer (db/stream.py) gives them positions
-- the next time it runs.
INSERT INTO stream_log (kind, file_id, first_line, end_line)
SELECT 'events', e.file_id, min(e.line), max(e.line) + 1
FROM events e
WHERE NOT EXISTS (
    SELECT 1 FROM stream_log s
    WHERE s.kind = 'events' AND s.file_id = e.file_id AND e.line >= s.first_line AND e.line < s.end_line
)
GROUP BY e.file_id, e.line / 5000
ORDER BY e.file_id, min(e.line);
