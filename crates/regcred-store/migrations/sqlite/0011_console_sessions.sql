-- Web console sessions. The cookie holds a random 256-bit session id; only its SHA-256 is kept
-- here, so a copy of the database opens no session. A session names the access token it was
-- opened with by id (never the token's secret): every request re-reads that token, so revoking
-- or expiring the token signs its sessions out. `csrf` is the session's synchronizer secret for
-- the console's forms. Expired rows are deleted by `delete_expired_sessions`.
CREATE TABLE IF NOT EXISTS console_sessions (
    id_hash    BLOB PRIMARY KEY,
    token_id   TEXT NOT NULL,
    csrf       BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_expiry ON console_sessions (expires_at);
