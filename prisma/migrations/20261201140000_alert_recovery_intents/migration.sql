-- Alerts (issue #14), second part: what the recovery_escalation and intent-resolve conditions need, and a wake-up
-- for the dispatcher (src/alerts/dispatcher.ts LISTENs on ops_alert_signal instead of polling the outbox).
--
-- Run snapshots gain the runtime's escalation.json (facts.runtime.escalation: a recovery the runtime wants a
-- human to allow), the request times of the run's recent START/RESTART intents (the recovery attempts; the
-- dispatcher counts those inside its configured window) and the transaction id, so an intent that failed and a
-- run that stayed healthy in the same transaction are not read as "failed, then recovered".
CREATE OR REPLACE FUNCTION ops_alert_recoveries(run_id text) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT COALESCE(jsonb_agg(to_jsonb(i."requestedAt") ORDER BY i."requestedAt"), '[]'::jsonb)
    FROM (SELECT "requestedAt" FROM "ControlIntent"
           WHERE "runId" = run_id AND kind IN ('START', 'RESTART') AND stage <> 'REJECTED' AND "requestedAt" > now() - interval '24 hours'
           ORDER BY "requestedAt" DESC LIMIT 50) i
$$;

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
  INSERT INTO "AlertSignal" ("subject", "runId", "spriteId", "snapshot")
  VALUES ('run', NEW.id, NEW."spriteId", jsonb_build_object(
    'state', NEW.state, 'stateReason', NEW."stateReason", 'health', NEW.health, 'reasons', after_reasons,
    'ingestStatus', NEW."ingestStatus", 'ingestError', NEW."ingestError", 'removed', NEW."removedAt" IS NOT NULL, 'seq', NEW.seq,
    'escalation', CASE WHEN jsonb_typeof(escalation) = 'object' THEN escalation END,
    'recoveries', ops_alert_recoveries(NEW.id), 'tx', txid_current()::text));
  PERFORM pg_notify('ops_alert_signal', '');
  RETURN NULL;
END
$$;

-- Intent signals now also fire on CONFIRMED (a later confirmed intent resolves the run's open intent alerts) and
-- carry the run's state and recovery attempts (a START that fails while the run is down is a recovery attempt).
CREATE OR REPLACE FUNCTION ops_alert_intent_signal() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r RECORD;
BEGIN
  SELECT state, "stateReason" INTO r FROM "Run" WHERE id = NEW."runId";
  INSERT INTO "AlertSignal" ("subject", "runId", "snapshot")
  VALUES ('intent', NEW."runId", jsonb_build_object('intentId', NEW.id, 'kind', NEW.kind, 'stage', NEW.stage, 'error', NEW.error,
    'traceId', NEW."traceId", 'requestedBy', NEW."requestedBy", 'runState', r.state, 'runStateReason', r."stateReason",
    'recoveries', ops_alert_recoveries(NEW."runId"), 'tx', txid_current()::text));
  PERFORM pg_notify('ops_alert_signal', '');
  RETURN NULL;
END
$$;

DROP TRIGGER "ControlIntent_alert_signal" ON "ControlIntent";
CREATE TRIGGER "ControlIntent_alert_signal" AFTER UPDATE OF stage ON "ControlIntent"
  FOR EACH ROW WHEN (NEW.stage IS DISTINCT FROM OLD.stage AND NEW.stage IN ('AMBIGUOUS', 'FAILED', 'CONFIRMED'))
  EXECUTE FUNCTION ops_alert_intent_signal();

CREATE OR REPLACE FUNCTION ops_alert_sprite_signal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "AlertSignal" ("subject", "spriteId", "snapshot")
  VALUES ('sprite', NEW.id, jsonb_build_object('name', NEW.name, 'status', NEW.status, 'removed', NEW."removedAt" IS NOT NULL));
  PERFORM pg_notify('ops_alert_signal', '');
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION ops_alert_run_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "AlertSignal" ("subject", "runId", "spriteId", "snapshot")
  VALUES ('run', OLD.id, OLD."spriteId", jsonb_build_object('deleted', true));
  PERFORM pg_notify('ops_alert_signal', '');
  RETURN NULL;
END
$$;

-- Policy actions (src/alerts/policy-action.ts inserts them) are announced once each.
CREATE OR REPLACE FUNCTION ops_alert_signal_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('ops_alert_signal', '');
  RETURN NULL;
END
$$;
CREATE TRIGGER "AlertSignal_policy_notify" AFTER INSERT ON "AlertSignal"
  FOR EACH ROW WHEN (NEW.subject = 'policy') EXECUTE FUNCTION ops_alert_signal_notify();

-- The claim query looks for an older pending delivery of the same dedup key and sink: indexed.
CREATE INDEX "AlertDelivery_pending_key_idx" ON "AlertDelivery"("dedupKey", sink, seq) WHERE "status" = 'PENDING';
-- Open intent episodes are looked up by run.
CREATE INDEX "AlertEpisode_open_run_idx" ON "AlertEpisode"("runId") WHERE "resolvedAt" IS NULL;
