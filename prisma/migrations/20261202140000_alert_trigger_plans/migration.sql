-- Alerts: cheaper outbox triggers. The two helpers the triggers call were LANGUAGE sql functions; called from a
-- trigger, such a function is planned again on every call (PostgreSQL keeps no plan for a non-inlined SQL
-- function across statements), which made each alert signal cost ~0.5 ms of planning inside the writer's
-- transaction. As plpgsql functions their queries' plans are cached for the session, and the run trigger gets the
-- reasons of the old row only when nothing cheaper already told it that something changed.
CREATE OR REPLACE FUNCTION ops_alert_recoveries(run_id text) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (SELECT COALESCE(jsonb_agg(to_jsonb(i."requestedAt") ORDER BY i."requestedAt"), '[]'::jsonb)
    FROM (SELECT "requestedAt" FROM "ControlIntent"
           WHERE "runId" = run_id AND kind IN ('START', 'RESTART') AND stage <> 'REJECTED' AND "requestedAt" > now() - interval '24 hours'
           ORDER BY "requestedAt" DESC LIMIT 50) i);
END
$$;

CREATE OR REPLACE FUNCTION ops_alert_reasons(reasons jsonb) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF jsonb_typeof(reasons) IS DISTINCT FROM 'array' OR jsonb_array_length(reasons) = 0 THEN
    RETURN '[]'::jsonb;
  END IF;
  RETURN (SELECT COALESCE(jsonb_agg(jsonb_build_object('code', r->>'code', 'severity', r->>'severity') ORDER BY r->>'code'), '[]'::jsonb)
    FROM jsonb_array_elements(reasons) r);
END
$$;

-- Run signals name the request that caused them: the trace id of the run's control intent that is in flight
-- (requested, dispatched or accepted) or that this same transaction wrote (an intent confirmed together with the
-- state it asked for). A STOPPED after a CANCEL then carries the CANCEL's trace id; a change no request caused
-- carries none, and the dispatcher generates one for its episode.
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
    'recoveries', ops_alert_recoveries(NEW.id), 'tx', txid_current()::text,
    'traceId', (SELECT i."traceId" FROM "ControlIntent" i
                 WHERE i."runId" = NEW.id AND (i.stage IN ('REQUESTED', 'DISPATCHED', 'ACCEPTED') OR i.xmin = pg_current_xact_id()::xid)
                 ORDER BY i."requestedAt" DESC LIMIT 1)));
  PERFORM pg_notify('ops_alert_signal', '');
  RETURN NULL;
END
$$;
