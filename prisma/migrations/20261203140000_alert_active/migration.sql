-- Alerts cost nothing while no sink is enabled: the outbox triggers write a signal only when the stored alert
-- config has an enabled sink ("active", kept by src/alerts/store.ts writeAlertsConfig). Without a sink a signal
-- could only ever become an episode that nobody hears, yet every run state change paid for it in its own
-- transaction. A condition already true when a sink is enabled is announced at the run's next change. A deleted
-- run still signals (rare), so episodes opened while a sink was enabled always resolve.
ALTER TABLE "AlertConfig" ADD COLUMN "active" BOOLEAN NOT NULL DEFAULT false;
UPDATE "AlertConfig" SET active = EXISTS (
  SELECT 1 FROM jsonb_each(CASE WHEN jsonb_typeof(config -> 'sinks') = 'object' THEN config -> 'sinks' ELSE '{}'::jsonb END) s
   WHERE COALESCE((s.value ->> 'enabled')::boolean, true));

CREATE FUNCTION ops_alerts_active() RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN COALESCE((SELECT active FROM "AlertConfig" WHERE id = 'default'), false);
END
$$;

-- The run trigger asks only once it knows something changed (most Run updates are ingest commits that change
-- nothing it watches).
CREATE OR REPLACE FUNCTION ops_alert_run_signal() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  after_reasons jsonb := ops_alert_reasons(NEW."healthReasons");
  escalation jsonb := NEW.facts -> 'runtime' -> 'escalation';
BEGIN
  IF TG_OP = 'UPDATE'
     AND NEW.state IS NOT DISTINCT FROM OLD.state
     AND NEW."stateReason" IS NOT DISTINCT FROM OLD."stateReason"
     AND NEW.health IS NOT DISTINCT FROM OLD.health
     AND NEW."ingestStatus" IS NOT DISTINCT FROM OLD."ingestStatus"
     AND NEW."removedAt" IS NOT DISTINCT FROM OLD."removedAt"
     AND escalation IS NOT DISTINCT FROM (OLD.facts -> 'runtime' -> 'escalation')
     AND after_reasons = ops_alert_reasons(OLD."healthReasons") THEN
    RETURN NULL;
  END IF;
  IF NOT ops_alerts_active() THEN
    RETURN NULL;
  END IF;
  INSERT INTO "AlertSignal" ("subject", "runId", "spriteId", "snapshot")
  VALUES ('run', NEW.id, NEW."spriteId", jsonb_build_object(
    'state', NEW.state, 'stateReason', NEW."stateReason", 'health', NEW.health, 'reasons', after_reasons,
    'ingestStatus', NEW."ingestStatus", 'ingestError', NEW."ingestError", 'removed', NEW."removedAt" IS NOT NULL, 'seq', NEW.seq,
    'escalation', CASE WHEN jsonb_typeof(escalation) = 'object' THEN escalation END,
    'recoveries', ops_alert_recoveries(NEW.id), 'tx', txid_current()::text,
    'traceId', (SELECT i."traceId" FROM "ControlIntent" i
                 WHERE i."runId" = NEW.id AND (i.stage IN ('REQUESTED', 'DISPATCHED', 'ACCEPTED') OR i.xmin = pg_current_xact_id()::xid)
                 ORDER BY i."requestedAt" DESC LIMIT 1)));
  PERFORM pg_notify('ops_alert_signal', '');
  RETURN NULL;
END
$$;

DROP TRIGGER "ControlIntent_alert_signal" ON "ControlIntent";
CREATE TRIGGER "ControlIntent_alert_signal" AFTER UPDATE OF stage ON "ControlIntent"
  FOR EACH ROW WHEN (NEW.stage IS DISTINCT FROM OLD.stage AND NEW.stage IN ('AMBIGUOUS', 'FAILED', 'CONFIRMED') AND ops_alerts_active())
  EXECUTE FUNCTION ops_alert_intent_signal();

DROP TRIGGER "Sprite_alert_signal" ON "Sprite";
CREATE TRIGGER "Sprite_alert_signal" AFTER UPDATE OF status, "removedAt" ON "Sprite"
  FOR EACH ROW WHEN ((NEW.status IS DISTINCT FROM OLD.status OR NEW."removedAt" IS DISTINCT FROM OLD."removedAt") AND ops_alerts_active())
  EXECUTE FUNCTION ops_alert_sprite_signal();

-- Two migrations created the same partial index; every pending delivery paid for both.
DROP INDEX "AlertDelivery_pending_key_idx";
