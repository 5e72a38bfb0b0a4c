-- regcred schema, version 1. Applied migrations are never edited; add a new file instead.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE projects (
    name        TEXT PRIMARY KEY,
    description TEXT,
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL
);

CREATE TABLE locations (
    name       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    spec       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL
);

CREATE TABLE pull_secrets (
    id          TEXT PRIMARY KEY,
    project     TEXT NOT NULL REFERENCES projects(name),
    location    TEXT NOT NULL REFERENCES locations(name),
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    server      TEXT NOT NULL,
    username    TEXT,
    email       TEXT,
    params      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    revision    INTEGER NOT NULL,
    key_id      TEXT NOT NULL,
    nonce       BLOB NOT NULL,
    ciphertext  BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    updated_by  TEXT NOT NULL,
    UNIQUE (project, location, name)
);

CREATE TABLE pull_secret_refs (
    pull_secret_id TEXT NOT NULL REFERENCES pull_secrets(id) ON DELETE CASCADE,
    referrer_kind  TEXT NOT NULL,
    referrer_name  TEXT NOT NULL,
    PRIMARY KEY (pull_secret_id, referrer_kind, referrer_name)
);

CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    project    TEXT,
    role       TEXT NOT NULL,
    hash       BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
);

CREATE TABLE audit_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    time    INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    channel TEXT NOT NULL,
    action  TEXT NOT NULL,
    project TEXT,
    target  TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail  TEXT NOT NULL
);
CREATE INDEX audit_events_project ON audit_events (project, id);
