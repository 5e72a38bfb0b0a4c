-- Web console sessions (as SQLite migration 11): the SHA-256 of the cookie's random id, the
-- access token's id (never its secret), the CSRF secret and the expiry.
CREATE TABLE IF NOT EXISTS console_sessions (
    id_hash    BYTEA PRIMARY KEY,
    token_id   TEXT NOT NULL,
    csrf       BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_expiry ON console_sessions (expires_at);
