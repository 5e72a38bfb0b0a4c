-- Leases (SQLite's migration 12): who does the background work of the replicas on this
-- database. `epoch` grows by one each time another holder takes the lease (the fencing token
-- every background write checks); `expires_at` is Unix milliseconds by the database's clock.
CREATE TABLE leases (
    name TEXT COLLATE "C" PRIMARY KEY,
    holder TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    url TEXT
);
