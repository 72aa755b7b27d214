-- GitHub: webhook deliveries, the Actions runs whose logs are fetched, and what the
-- poller remembers between runs.

-- Every verified delivery, once: a redelivery carries the same X-GitHub-Delivery.
-- hook_id is '' when the header was absent (a hand-made request).
CREATE TABLE github_deliveries (
    id           bigserial PRIMARY KEY,
    delivery_id  text NOT NULL UNIQUE,
    hook_id      text NOT NULL,
    event        text NOT NULL,
    action       text,
    repository   text,
    sender       text,
    received_at  timestamptz NOT NULL DEFAULT now(),
    payload      jsonb NOT NULL
);
CREATE INDEX github_deliveries_event ON github_deliveries (event, id DESC);
CREATE INDEX github_deliveries_repository ON github_deliveries (repository, id DESC);

-- A file's own fields, added to every event parsed from it (an Actions log's repository,
-- workflow, run and job).
ALTER TABLE files ADD COLUMN fields jsonb;

-- One row per Actions run attempt (job_id 0) or single job whose logs were asked for:
-- where fetching them got to, and why it failed (logs expired, no permission).
CREATE TABLE github_log_fetches (
    repository   text NOT NULL,
    run_id       bigint NOT NULL,
    run_attempt  integer NOT NULL,
    job_id       bigint NOT NULL DEFAULT 0,
    workflow     text,
    status       text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'done', 'failed')),
    error        text,
    archive_key  text,
    files        integer NOT NULL DEFAULT 0,
    delivery_id  text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repository, run_id, run_attempt, job_id)
);

-- What `logpipe github poll` keeps per repository: the ETag of the last list of runs it
-- read (a 304 costs no rate limit) and the newest run it has seen.
CREATE TABLE github_poll_state (
    repository   text PRIMARY KEY,
    etag         text,
    polled_at    timestamptz NOT NULL DEFAULT now()
);
