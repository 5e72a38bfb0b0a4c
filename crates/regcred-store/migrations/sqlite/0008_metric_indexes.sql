-- `/metrics` counts pull secrets per kind and deliveries per location and state on every scrape:
-- covering indexes, so each count reads one narrow index instead of every row of its table.
-- IF NOT EXISTS: an index is all this migration makes, so applying it again is harmless.
CREATE INDEX IF NOT EXISTS pull_secrets_kind ON pull_secrets (kind);
CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries (location, state);
