-- Leases: who does a replicated server's background work. One row per lease name ("leader");
-- `epoch` grows by one each time another holder takes the lease (the fencing token every
-- background write checks), `expires_at` is Unix milliseconds by the database's clock.
-- IF NOT EXISTS: applying it again is harmless.
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    url TEXT
);
