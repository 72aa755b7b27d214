-- Rollups by hour and by pattern, the metrics every function reports, and what the
-- scheduled sweeps remember between runs.

-- The same counts as rollup_minutes, by hour: written by the follower that writes the
-- minutes, from the same minute counts, in the same transaction (db/rollups.py).
CREATE TABLE rollup_hours (
    hour     timestamptz NOT NULL,
    level    text,
    source   text NOT NULL,
    file_id  uuid NOT NULL,
    events   bigint NOT NULL,
    CONSTRAINT rollup_hours_key UNIQUE NULLS NOT DISTINCT (hour, level, source, file_id)
);

-- Events per minute (and hour) of their ts, pattern and level. The pattern is the id an
-- event was given; an id that generalised since is read as the one it became when
-- counts are served (pattern_aliases), so these rows never need rewriting.
CREATE TABLE rollup_pattern_minutes (
    minute      timestamptz NOT NULL,
    pattern_id  text,
    level       text,
    events      bigint NOT NULL,
    CONSTRAINT rollup_pattern_minutes_key UNIQUE NULLS NOT DISTINCT (minute, pattern_id, level)
);
CREATE TABLE rollup_pattern_hours (
    hour        timestamptz NOT NULL,
    pattern_id  text,
    level       text,
    events      bigint NOT NULL,
    CONSTRAINT rollup_pattern_hours_key UNIQUE NULLS NOT DISTINCT (hour, pattern_id, level)
);
CREATE INDEX rollup_minutes_minute ON rollup_minutes (minute);
CREATE INDEX rollup_hours_hour ON rollup_hours (hour);

-- Metrics (logpipe/metrics): each process adds what it counted since its last report to
-- its own rows, so that processes never wait on each other's rows, and a total is the
-- sum over processes. Counters only grow; a scheduled run folds the rows of processes
-- gone quiet into instance '' (one transaction: the sums do not move). A gauge row is
-- the process's current value, counted while the process reports.
CREATE TABLE metric_values (
    instance    text NOT NULL,
    name        text NOT NULL,             -- the sample's name: logpipe_..._total, ..._bucket
    labels      text NOT NULL,             -- its labels as JSON, keys sorted
    kind        text NOT NULL CHECK (kind IN ('counter', 'gauge')),
    value       double precision NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance, name, labels)
);
-- Each process's reports are numbered: a report retried after a commit whose outcome the
-- process could not know is recognised here, and not added twice.
CREATE TABLE metric_instances (
    instance    text PRIMARY KEY,
    reports     bigint NOT NULL DEFAULT 0,
    seen_at     timestamptz NOT NULL DEFAULT now()
);

-- When a sweep last sent a file's notification again (it sends one once per
-- LOGPIPE_STUCK_AFTER_S, not at every run while the queue still holds the last).
ALTER TABLE files ADD COLUMN swept_at timestamptz;

-- What a scheduled sweep remembers between runs (where its walk of the bucket got to).
CREATE TABLE sweep_state (
    name        text PRIMARY KEY,
    value       text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Hours and patterns of what the indexer has counted so far, from the events themselves
-- (the per-minute counts hold no pattern).
INSERT INTO rollup_hours (hour, level, source, file_id, events)
SELECT date_trunc('hour', minute), level, source, file_id, sum(events) FROM rollup_minutes GROUP BY 1, 2, 3, 4;
INSERT INTO rollup_pattern_minutes (minute, pattern_id, level, events)
SELECT date_trunc('minute', e.ts), e.pattern_id, e.level, count(*)
FROM events e JOIN search_blocks b ON e.file_id = b.file_id AND e.line >= b.first_line AND e.line < b.end_line
GROUP BY 1, 2, 3;
INSERT INTO rollup_pattern_hours (hour, pattern_id, level, events)
SELECT date_trunc('hour', minute), pattern_id, level, sum(events) FROM rollup_pattern_minutes GROUP BY 1, 2, 3;
