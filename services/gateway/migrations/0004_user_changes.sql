-- Each gateway keeps the users rows of active callers for a few seconds (auth.UserCache)
-- and listens here, so a user disabled or changed by any instance, page or `ehcp` command
-- is forgotten by every gateway at once.
CREATE FUNCTION users_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gateway_users', CASE WHEN TG_OP = 'DELETE' THEN OLD.sub ELSE NEW.sub END);
    RETURN NULL;
END $$;

CREATE TRIGGER users_changed AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION users_changed();
