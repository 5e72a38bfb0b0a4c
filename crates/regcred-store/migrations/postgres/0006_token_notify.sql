-- Every change of an access token is announced on the channel `regcred_tokens`, its payload the
-- token's id (an empty payload: every token), when the changing transaction commits. Each
-- replica answers tokens from memory while it listens there (`postgres/tokens.rs`), so a token
-- revoked through any replica, or by hand in SQL, stops working on every replica once the
-- notification arrives. A trigger rather than the store's code: no writer can forget to announce.
-- SQLite has no counterpart: every change goes through its one process, which forgets what it
-- changes.
CREATE FUNCTION regcred_token_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        PERFORM pg_notify('regcred_tokens', '');
    ELSE
        -- Only ids that existed can be kept, so the old id is the one to forget.
        PERFORM pg_notify('regcred_tokens', OLD.id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER tokens_changed AFTER UPDATE OR DELETE ON tokens
    FOR EACH ROW EXECUTE FUNCTION regcred_token_changed();
CREATE TRIGGER tokens_truncated AFTER TRUNCATE ON tokens
    FOR EACH STATEMENT EXECUTE FUNCTION regcred_token_changed();
