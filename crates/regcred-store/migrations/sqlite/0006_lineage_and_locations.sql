-- Tokens are revoked together with the tokens they created (tokens.created_by names the creating
-- token's id): an index for walking that lineage, and the revocation of tokens whose creator
-- (or an ancestor of it) was revoked before revocation cascaded.
CREATE INDEX tokens_created_by ON tokens (created_by);

WITH RECURSIVE revoked_lineage(id, revoked_at) AS (
    SELECT id, revoked_at FROM tokens WHERE revoked_at IS NOT NULL
    UNION
    SELECT t.id, r.revoked_at FROM tokens t JOIN revoked_lineage r ON t.created_by = r.id
)
UPDATE tokens
SET revoked_at = (SELECT MIN(r.revoked_at) FROM revoked_lineage r WHERE r.id = tokens.id)
WHERE revoked_at IS NULL AND id IN (SELECT id FROM revoked_lineage);

-- A location that serves one project (a docker location with one auth file for the whole host)
-- asks whether another project's records are in it: an index per table, location first.
CREATE INDEX pull_secrets_location ON pull_secrets (location, project);
CREATE INDEX deployments_location ON deployments (location, project);
