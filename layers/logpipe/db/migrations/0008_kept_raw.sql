-- Why an event is kept as its raw text only: the line held something that the parser or
-- the database could not represent (JSON nested too deep to walk, a value jsonb refuses,
-- a number no conversion takes). NULL for every event that was stored as parsed. Such a
-- line is stored once, as any other, instead of failing the batch it came in.
ALTER TABLE events ADD COLUMN kept_raw text;
