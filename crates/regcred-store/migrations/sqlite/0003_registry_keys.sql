-- Robot credentials for the platform's own registry. Only the hash of the secret is kept.
CREATE TABLE registry_keys (
    id         TEXT PRIMARY KEY,
    project    TEXT NOT NULL REFERENCES projects(name),
    name       TEXT NOT NULL,
    access     TEXT NOT NULL,
    hash       BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER,
    UNIQUE (project, name)
);
