-- Every change of what a pull secret's view shows is announced on the channel
-- `regcred_pull_secrets`, its payload the pull secret's id (an empty payload: every pull
-- secret), when the changing transaction commits: a change of its row, its references, its
-- deliveries (a deployment's deliveries are announced too, by the deployment's id, which no view
-- has) or its minted state. Each replica answers `pullSecret.get` from memory while it listens
-- there (`postgres/listener.rs`), as it does tokens (migration 6). A new pull secret needs no
-- announcement: what is not there is not kept.
--
-- Row triggers with static SQL: the store writes these rows one statement each, and a row
-- trigger adds a few microseconds to each (a statement trigger over a transition table would
-- plan a query per statement). An id announced several times in one transaction is delivered
-- once.
CREATE FUNCTION regcred_pull_secret_row_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('regcred_pull_secrets', OLD.id);
    RETURN NULL;
END $$;

CREATE FUNCTION regcred_pull_secret_fact_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- NEW is null for a delete, OLD for an insert; an update keeps the id.
    PERFORM pg_notify('regcred_pull_secrets', coalesce(NEW.pull_secret_id, OLD.pull_secret_id));
    RETURN NULL;
END $$;

CREATE FUNCTION regcred_pull_secret_delivery_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('regcred_pull_secrets', coalesce(NEW.owner_id, OLD.owner_id));
    RETURN NULL;
END $$;

CREATE FUNCTION regcred_pull_secrets_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('regcred_pull_secrets', '');
    RETURN NULL;
END $$;

CREATE TRIGGER pull_secrets_view_changed AFTER UPDATE OR DELETE ON pull_secrets
    FOR EACH ROW EXECUTE FUNCTION regcred_pull_secret_row_changed();
CREATE TRIGGER pull_secret_refs_view_changed AFTER INSERT OR UPDATE OR DELETE ON pull_secret_refs
    FOR EACH ROW EXECUTE FUNCTION regcred_pull_secret_fact_changed();
CREATE TRIGGER minted_view_changed AFTER INSERT OR UPDATE OR DELETE ON minted_credentials
    FOR EACH ROW EXECUTE FUNCTION regcred_pull_secret_fact_changed();
CREATE TRIGGER deliveries_view_changed AFTER INSERT OR UPDATE OR DELETE ON deliveries
    FOR EACH ROW EXECUTE FUNCTION regcred_pull_secret_delivery_changed();

CREATE TRIGGER pull_secrets_view_truncated AFTER TRUNCATE ON pull_secrets
    FOR EACH STATEMENT EXECUTE FUNCTION regcred_pull_secrets_truncated();
CREATE TRIGGER pull_secret_refs_view_truncated AFTER TRUNCATE ON pull_secret_refs
    FOR EACH STATEMENT EXECUTE FUNCTION regcred_pull_secrets_truncated();
CREATE TRIGGER minted_view_truncated AFTER TRUNCATE ON minted_credentials
    FOR EACH STATEMENT EXECUTE FUNCTION regcred_pull_secrets_truncated();
CREATE TRIGGER deliveries_view_truncated AFTER TRUNCATE ON deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION regcred_pull_secrets_truncated();
