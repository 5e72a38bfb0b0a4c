-- What changed, for whom: one row per write of a pull secret, a deployment or a minted
-- credential, appended by triggers in the writing transaction, so every writer (any process on
-- the database) records its changes without being asked. Delivery reads a location's changes
-- since its last pass and works on those owners only, then drops what it has consumed; the
-- resolution index of a (project, location) is current while the generation of its pull secrets
-- (`pull_secret_generations`, never pruned) is the one it was built at. `seq` only grows
-- (AUTOINCREMENT never reuses a value). IF NOT EXISTS throughout: applying it again is harmless.
CREATE TABLE IF NOT EXISTS changes (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    location TEXT NOT NULL,
    project  TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    -- pull_secret | deployment | minted
    kind     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_location ON changes (location, seq);

-- The one-server-per-scope guard of every pull-secret write searches by server.
CREATE INDEX IF NOT EXISTS pull_secrets_server ON pull_secrets (project, location, server);

CREATE TABLE IF NOT EXISTS pull_secret_generations (
    project    TEXT NOT NULL,
    location   TEXT NOT NULL,
    generation INTEGER NOT NULL,
    PRIMARY KEY (project, location)
);

CREATE TRIGGER IF NOT EXISTS pull_secrets_inserted AFTER INSERT ON pull_secrets BEGIN
    INSERT INTO changes (location, project, owner_id, kind)
    VALUES (NEW.location, NEW.project, NEW.id, 'pull_secret');
    INSERT INTO pull_secret_generations (project, location, generation)
    VALUES (NEW.project, NEW.location, 1)
    ON CONFLICT (project, location) DO UPDATE SET generation = generation + 1;
END;
-- Recording a credential check changes nothing delivered or resolved: only the columns below do.
CREATE TRIGGER IF NOT EXISTS pull_secrets_updated
AFTER UPDATE OF project, location, name, kind, server, username, email, revision ON pull_secrets
BEGIN
    INSERT INTO changes (location, project, owner_id, kind)
    VALUES (NEW.location, NEW.project, NEW.id, 'pull_secret');
    INSERT INTO changes (location, project, owner_id, kind)
    SELECT OLD.location, OLD.project, OLD.id, 'pull_secret'
    WHERE OLD.location IS NOT NEW.location OR OLD.project IS NOT NEW.project;
    INSERT INTO pull_secret_generations (project, location, generation)
    VALUES (NEW.project, NEW.location, 1)
    ON CONFLICT (project, location) DO UPDATE SET generation = generation + 1;
    INSERT INTO pull_secret_generations (project, location, generation)
    VALUES (OLD.project, OLD.location, 1)
    ON CONFLICT (project, location) DO UPDATE SET generation = generation + 1;
END;
CREATE TRIGGER IF NOT EXISTS pull_secrets_deleted AFTER DELETE ON pull_secrets BEGIN
    INSERT INTO changes (location, project, owner_id, kind)
    VALUES (OLD.location, OLD.project, OLD.id, 'pull_secret');
    INSERT INTO pull_secret_generations (project, location, generation)
    VALUES (OLD.project, OLD.location, 1)
    ON CONFLICT (project, location) DO UPDATE SET generation = generation + 1;
END;

CREATE TRIGGER IF NOT EXISTS deployments_inserted AFTER INSERT ON deployments BEGIN
    INSERT INTO changes (location, project, owner_id, kind)
    VALUES (NEW.location, NEW.project, NEW.id, 'deployment');
END;
CREATE TRIGGER IF NOT EXISTS deployments_updated AFTER UPDATE ON deployments BEGIN
    INSERT INTO changes (location, project, owner_id, kind)
    VALUES (NEW.location, NEW.project, NEW.id, 'deployment');
    INSERT INTO changes (location, project, owner_id, kind)
    SELECT OLD.location, OLD.project, OLD.id, 'deployment'
    WHERE OLD.location IS NOT NEW.location OR OLD.project IS NOT NEW.project;
END;
CREATE TRIGGER IF NOT EXISTS deployments_deleted AFTER DELETE ON deployments BEGIN
    INSERT INTO changes (location, project, owner_id, kind)
    VALUES (OLD.location, OLD.project, OLD.id, 'deployment');
END;

-- A refresh changes what is delivered only when the credential itself changes; the bookkeeping
-- of attempts and schedules does not.
CREATE TRIGGER IF NOT EXISTS minted_inserted AFTER INSERT ON minted_credentials BEGIN
    INSERT INTO changes (location, project, owner_id, kind)
    SELECT location, project, id, 'minted' FROM pull_secrets WHERE id = NEW.pull_secret_id;
END;
CREATE TRIGGER IF NOT EXISTS minted_updated AFTER UPDATE ON minted_credentials
WHEN OLD.ciphertext IS NOT NEW.ciphertext OR OLD.username IS NOT NEW.username
    OR OLD.revision IS NOT NEW.revision
BEGIN
    INSERT INTO changes (location, project, owner_id, kind)
    SELECT location, project, id, 'minted' FROM pull_secrets WHERE id = NEW.pull_secret_id;
END;
