-- A purged run (removeSprite with purge, removeRun) leaves no row to alert about: its open alert episodes are
-- resolved (a resolve goes to the sinks that got the trigger), through a signal written in the deleting
-- transaction like every other.
CREATE FUNCTION ops_alert_run_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "AlertSignal" ("subject", "runId", "spriteId", "snapshot")
  VALUES ('run', OLD.id, OLD."spriteId", jsonb_build_object('deleted', true));
  RETURN NULL;
END
$$;

CREATE TRIGGER "Run_alert_deleted" AFTER DELETE ON "Run"
  FOR EACH ROW EXECUTE FUNCTION ops_alert_run_deleted();
