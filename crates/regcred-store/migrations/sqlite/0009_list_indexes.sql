-- Lists are read a page at a time in (project, location, name) order, and the view of a page
-- reads the deliveries of all its items in one query: an index for each access path, so no read
-- scans a table whatever its size. IF NOT EXISTS and IF EXISTS: indexes are all this migration
-- changes, so applying it again is harmless.
--
-- The unique (project, location, name) keys serve the unfiltered and project-filtered lists; a
-- location-filtered list needs location first and name last, which the (location, project)
-- indexes of migration 6 lack. The new ones serve the one-project guard as well, so those go.
CREATE INDEX IF NOT EXISTS pull_secrets_location_order ON pull_secrets (location, project, name);
DROP INDEX IF EXISTS pull_secrets_location;
CREATE INDEX IF NOT EXISTS deployments_location_order ON deployments (location, project, name);
DROP INDEX IF EXISTS deployments_location;
-- An owner's deliveries (a pull secret's or deployment's), in the lists' (location, target)
-- order; replaces the owner-only index.
CREATE INDEX IF NOT EXISTS deliveries_owner_order ON deliveries (owner_id, location, target);
DROP INDEX IF EXISTS deliveries_owner;
-- Audit retention deletes the oldest rows by time, a bounded batch at a time.
CREATE INDEX IF NOT EXISTS audit_events_time ON audit_events (time);
