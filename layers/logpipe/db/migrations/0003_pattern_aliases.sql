-- Templates generalise as lines arrive: "user alice logged in" becomes "user <*> logged in"
-- once enough names were seen, after some events were already given the first. Each such
-- id points at the template it became, and is read as it: its events and counts count
-- for the target. "template" is the target's text, for a target that has no row yet.
CREATE TABLE pattern_aliases (
    id        text PRIMARY KEY,
    target    text NOT NULL,
    template  text NOT NULL
);
CREATE INDEX pattern_aliases_target ON pattern_aliases (target);
