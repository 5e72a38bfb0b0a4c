-- Every change of a project, a location or the pull-secret generation of a (project, location)
-- is announced when the changing transaction commits, on its own channel: `regcred_projects`
-- and `regcred_locations` with the name, `regcred_generations` with `project/location` (names
-- hold no `/`); an empty payload means every one. These are read by nearly every request
-- (`image.resolve` and `credential.get`, the kubelet's calls, read all three), so each replica
-- answers them from memory while it listens there (`postgres/listener.rs`), as it does tokens
-- (migration 6) and pull-secret views (migration 7). A new row needs no announcement: what is
-- not there is not kept.
CREATE FUNCTION regcred_named_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- TG_ARGV[0]: the channel. Only rows that existed can be kept, so the old name is the one
    -- to forget.
    IF TG_LEVEL = 'STATEMENT' THEN
        PERFORM pg_notify(TG_ARGV[0], '');
    ELSE
        PERFORM pg_notify(TG_ARGV[0], OLD.name);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION regcred_generation_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        PERFORM pg_notify('regcred_generations', '');
    ELSE
        -- NEW is null for a delete; the key never changes.
        PERFORM pg_notify('regcred_generations',
            coalesce(NEW.project, OLD.project) || '/' || coalesce(NEW.location, OLD.location));
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER projects_changed AFTER UPDATE OR DELETE ON projects
    FOR EACH ROW EXECUTE FUNCTION regcred_named_changed('regcred_projects');
CREATE TRIGGER projects_truncated AFTER TRUNCATE ON projects
    FOR EACH STATEMENT EXECUTE FUNCTION regcred_named_changed('regcred_projects');
CREATE TRIGGER locations_changed AFTER UPDATE OR DELETE ON locations
    FOR EACH ROW EXECUTE FUNCTION regcred_named_changed('regcred_locations');
CREATE TRIGGER locations_truncated AFTER TRUNCATE ON locations
    FOR EACH STATEMENT EXECUTE FUNCTION regcred_named_changed('regcred_locations');
CREATE TRIGGER generations_changed AFTER INSERT OR UPDATE OR DELETE ON pull_secret_generations
    FOR EACH ROW EXECUTE FUNCTION regcred_generation_changed();
CREATE TRIGGER generations_truncated AFTER TRUNCATE ON pull_secret_generations
    FOR EACH STATEMENT EXECUTE FUNCTION regcred_generation_changed();
