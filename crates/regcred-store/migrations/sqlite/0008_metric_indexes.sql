-- `/metrics` counts pull secrets per kind and deliveries per location and state on every scrape:
-- covering indexes, so each count reads one narrow index instead of every row of its table.
CREATE INDEX pull_secrets_kind ON pull_secrets (kind);
CREATE INDEX deliveries_state ON deliveries (location, state);
