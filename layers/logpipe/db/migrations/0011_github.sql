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
-- workflow, run and job), and the file that holds the events of the webhook deliveries.
ALTER TABLE files ADD COLUMN fields jsonb;
-- One file holds the deliveries' events, a delivery's event at the line of its row's id
-- (ids have gaps; lines need not be consecutive). It has no object in the bucket.
INSERT INTO files (id, name, object_key, upload_kind, status, source, finished_at)
VALUES ('067ec9b1-8e0b-59f4-a194-5153aa5f6d94', 'GitHub webhook deliveries', 'github/webhook-deliveries',
        'external', 'done', 'github', now());

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
