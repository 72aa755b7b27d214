-- A file whose object was replaced under its key after it was planned (a presigned POST
-- used twice) fails as 'replaced': the new object is not read, the events kept are the
-- first object's. Reads of a file are pinned to the ETag it was planned from.
ALTER TABLE files DROP CONSTRAINT files_failure_check;
ALTER TABLE files ADD CONSTRAINT files_failure_check
    CHECK (failure IN ('dead_lettered', 'upload', 'content', 'replaced'));
