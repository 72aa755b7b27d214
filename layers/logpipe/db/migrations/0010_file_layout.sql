-- The layout a file's lines are read with where no known format reads them well: inferred
-- from its first lines when it is planned, or forced with its upload (and then never
-- replaced by an inferred one). NULL: the known formats read it.
ALTER TABLE files ADD COLUMN layout jsonb;
ALTER TABLE files ADD COLUMN layout_source text CHECK (layout_source IN ('inferred', 'forced'));
