-- Why a file failed, as a column, where it used to hide in the prefix of its error text:
--   dead_lettered  a message about the file went to the dead-letter queue; replaying it
--                  may still finish the file, which then comes back to 'done';
--   upload         the upload itself went wrong (larger than declared, never completed);
--   content        its bytes cannot be read as a text log (binary, damaged gzip).
-- Only dead_lettered is undone by the pipeline; the others stand. The error text, which
-- users read, is unchanged.
ALTER TABLE files ADD COLUMN failure text CHECK (failure IN ('dead_lettered', 'upload', 'content'));

-- Existing rows, by the texts the code wrote them with. A file re-planned by a replay
-- keeps its dead-lettered error until it is done, whatever its status meanwhile.
UPDATE files SET failure = CASE
        WHEN error LIKE 'dead-lettered:%' THEN 'dead_lettered'
        WHEN error LIKE 'the upload never completed:%' OR error LIKE 'the uploaded object is % were declared: not parsed'
            THEN 'upload'
        ELSE 'content' END
    WHERE status = 'failed' OR error LIKE 'dead-lettered:%';
