-- Multi-line events, per-source parsing options, and message patterns.

ALTER TABLE events ADD COLUMN line_count integer NOT NULL DEFAULT 1;
ALTER TABLE events ADD COLUMN pattern_id text;

-- Per-source parsing options: NULL means "detect from content" and "UTC".
ALTER TABLE files ADD COLUMN source_format text;
ALTER TABLE files ADD COLUMN source_tz text;

-- A pattern is the template of messages with their variable parts masked; its id is a
-- hash of the template text, so every worker names the same template the same way.
-- Counts move in the same transaction as the events they count.
CREATE TABLE patterns (
    id          text PRIMARY KEY,
    template    text NOT NULL,
    count       bigint NOT NULL DEFAULT 0,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    sample      text NOT NULL
);
CREATE INDEX patterns_count ON patterns (count DESC);
