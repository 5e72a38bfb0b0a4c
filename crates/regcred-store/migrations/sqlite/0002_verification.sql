-- The last credential check of a pull secret (JSON), reset when the credentials rotate.
ALTER TABLE pull_secrets ADD COLUMN verification TEXT;
