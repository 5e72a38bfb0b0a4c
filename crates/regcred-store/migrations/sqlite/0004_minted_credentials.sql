-- Short-lived credentials minted from pull secrets (ECR, GCR/GAR access tokens, ACR exchange):
-- the last good one (sealed) and the refresh schedule. One row per pull secret.
CREATE TABLE minted_credentials (
    pull_secret_id  TEXT PRIMARY KEY REFERENCES pull_secrets(id) ON DELETE CASCADE,
    revision        INTEGER NOT NULL,
    username        TEXT,
    endpoint        TEXT,
    key_id          TEXT,
    nonce           BLOB,
    ciphertext      BLOB,
    expires_at      INTEGER,
    refreshed_at    INTEGER,
    attempted_at    INTEGER NOT NULL,
    failures        INTEGER NOT NULL,
    last_error      TEXT,
    next_refresh_at INTEGER NOT NULL
);
