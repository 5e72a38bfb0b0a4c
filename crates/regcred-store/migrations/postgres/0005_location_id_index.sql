-- A full delivery pass reads a location's pull secrets a page at a time in id order (ids, unlike
-- names, cannot move between two pages): this index serves each page as one range, without
-- sorting the location's rows again for every page. (SQLite migration 13.)
CREATE INDEX IF NOT EXISTS pull_secrets_location_id ON pull_secrets (location, id);
