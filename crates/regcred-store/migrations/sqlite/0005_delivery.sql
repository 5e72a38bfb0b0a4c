-- Deployments: the current revision of each, and every revision with the pull-secret
-- revisions it used. References to pull secrets live in pull_secret_refs (kind 'deployment').
CREATE TABLE deployments (
    id         TEXT PRIMARY KEY,
    project    TEXT NOT NULL REFERENCES projects(name),
    location   TEXT NOT NULL REFERENCES locations(name),
    name       TEXT NOT NULL,
    revision   INTEGER NOT NULL,
    spec       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL,
    UNIQUE (project, location, name)
);

CREATE TABLE deployment_revisions (
    deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    revision      INTEGER NOT NULL,
    spec          TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    created_by    TEXT NOT NULL,
    PRIMARY KEY (deployment_id, revision)
);

-- Where pull secrets and deployments were delivered, and how that went. Rows outlive what they
-- describe until the delivery is cleaned up, so there is no foreign key to pull_secrets.
CREATE TABLE deliveries (
    location   TEXT NOT NULL,
    target     TEXT NOT NULL,
    owner_id   TEXT NOT NULL,
    state      TEXT NOT NULL,
    revision   INTEGER,
    digest     TEXT,
    code       TEXT,
    message    TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (location, target, owner_id)
);
CREATE INDEX deliveries_owner ON deliveries (owner_id);
