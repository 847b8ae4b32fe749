-- Alerts (issue #14): an outbox of alert-relevant changes written by triggers INSIDE the transaction that made the
-- change (ingest commit, control intents, cursor resets, registration, Sprite status), so no writer can forget it
-- and a rolled-back change raises nothing. The dispatcher (src/alerts/dispatcher.ts) turns signals into condition
-- episodes and deliveries, and sends those with retries; every attempt is recorded.

CREATE TABLE "AlertConfig" (
    "id" TEXT NOT NULL,
    "config" JSONB NOT NULL,
    "source" TEXT NOT NULL,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "AlertConfig_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "AlertSignal" (
    "id" BIGSERIAL NOT NULL,
    "subject" TEXT NOT NULL,
    "runId" TEXT,
    "spriteId" TEXT,
    "snapshot" JSONB NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT "AlertSignal_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "AlertEpisode" (
    "id" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "condition" TEXT NOT NULL,
    "severity" TEXT NOT NULL,
    "runId" TEXT,
    "spriteId" TEXT,
    "subject" JSONB NOT NULL,
    "sinks" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
    "traceId" TEXT NOT NULL,
    "openedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastNotifiedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "resolvedAt" TIMESTAMPTZ(3),
    CONSTRAINT "AlertEpisode_pkey" PRIMARY KEY ("id")
);
-- One open episode per condition key: a condition that persists raises one alert, not one per poll.
CREATE UNIQUE INDEX "AlertEpisode_open_key" ON "AlertEpisode"("key") WHERE "resolvedAt" IS NULL;
CREATE INDEX "AlertEpisode_runId_idx" ON "AlertEpisode"("runId");
CREATE INDEX "AlertEpisode_spriteId_idx" ON "AlertEpisode"("spriteId");

CREATE TYPE "AlertDeliveryStatus" AS ENUM ('PENDING', 'DELIVERED', 'DEAD');

CREATE TABLE "AlertDelivery" (
    "id" TEXT NOT NULL,
    "episodeId" TEXT,
    "sink" TEXT NOT NULL,
    "event" TEXT NOT NULL,
    "condition" TEXT NOT NULL,
    "severity" TEXT NOT NULL,
    "dedupKey" TEXT NOT NULL,
    "traceId" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "status" "AlertDeliveryStatus" NOT NULL DEFAULT 'PENDING',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT clock_timestamp(),
    "nextAttemptAt" TIMESTAMPTZ(3) NOT NULL DEFAULT clock_timestamp(),
    "firstAttemptAt" TIMESTAMPTZ(3),
    "deliveredAt" TIMESTAMPTZ(3),
    "lastStatus" INTEGER,
    "lastError" TEXT,
    CONSTRAINT "AlertDelivery_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "AlertDelivery_due_idx" ON "AlertDelivery"("nextAttemptAt") WHERE "status" = 'PENDING';
CREATE INDEX "AlertDelivery_status_createdAt_idx" ON "AlertDelivery"("status", "createdAt");

CREATE TABLE "AlertAttempt" (
    "id" BIGSERIAL NOT NULL,
    "deliveryId" TEXT NOT NULL,
    "n" INTEGER NOT NULL,
    "startedAt" TIMESTAMPTZ(3) NOT NULL,
    "latencyMs" INTEGER NOT NULL,
    "httpStatus" INTEGER,
    "error" TEXT,
    "outcome" TEXT NOT NULL,
    CONSTRAINT "AlertAttempt_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "AlertAttempt_deliveryId_fkey" FOREIGN KEY ("deliveryId") REFERENCES "AlertDelivery"("id") ON DELETE CASCADE
);
CREATE INDEX "AlertAttempt_deliveryId_idx" ON "AlertAttempt"("deliveryId");

-- Singleton work (the alert dispatcher) runs on one replica at a time: the holder of its row.
CREATE TABLE "OpsLease" (
    "name" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "token" INTEGER NOT NULL DEFAULT 1,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT "OpsLease_pkey" PRIMARY KEY ("name")
);

-- What the condition detectors (src/alerts/conditions.ts) read. Only codes and severities of health reasons:
-- their messages change every poll (ages), which must not count as a change.
CREATE FUNCTION ops_alert_reasons(reasons jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT COALESCE(jsonb_agg(jsonb_build_object('code', r->>'code', 'severity', r->>'severity') ORDER BY r->>'code'), '[]'::jsonb)
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(reasons) = 'array' THEN reasons ELSE '[]'::jsonb END) r
$$;

CREATE FUNCTION ops_alert_run_signal() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  after_reasons jsonb := ops_alert_reasons(NEW."healthReasons");
BEGIN
  IF TG_OP = 'UPDATE'
     AND NEW.state IS NOT DISTINCT FROM OLD.state
     AND NEW."stateReason" IS NOT DISTINCT FROM OLD."stateReason"
     AND NEW.health IS NOT DISTINCT FROM OLD.health
     AND NEW."ingestStatus" IS NOT DISTINCT FROM OLD."ingestStatus"
     AND NEW."removedAt" IS NOT DISTINCT FROM OLD."removedAt"
     AND after_reasons = ops_alert_reasons(OLD."healthReasons") THEN
    RETURN NULL;
  END IF;
  INSERT INTO "AlertSignal" ("subject", "runId", "spriteId", "snapshot")
  VALUES ('run', NEW.id, NEW."spriteId", jsonb_build_object(
    'state', NEW.state, 'stateReason', NEW."stateReason", 'health', NEW.health, 'reasons', after_reasons,
    'ingestStatus', NEW."ingestStatus", 'ingestError', NEW."ingestError", 'removed', NEW."removedAt" IS NOT NULL, 'seq', NEW.seq));
  RETURN NULL;
END
$$;

CREATE TRIGGER "Run_alert_signal" AFTER INSERT OR UPDATE ON "Run"
  FOR EACH ROW EXECUTE FUNCTION ops_alert_run_signal();

CREATE FUNCTION ops_alert_intent_signal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "AlertSignal" ("subject", "runId", "snapshot")
  VALUES ('intent', NEW."runId", jsonb_build_object('intentId', NEW.id, 'kind', NEW.kind, 'stage', NEW.stage, 'error', NEW.error,
    'traceId', NEW."traceId", 'requestedBy', NEW."requestedBy"));
  RETURN NULL;
END
$$;

CREATE TRIGGER "ControlIntent_alert_signal" AFTER UPDATE OF stage ON "ControlIntent"
  FOR EACH ROW WHEN (NEW.stage IS DISTINCT FROM OLD.stage AND NEW.stage IN ('AMBIGUOUS', 'FAILED'))
  EXECUTE FUNCTION ops_alert_intent_signal();

CREATE FUNCTION ops_alert_sprite_signal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "AlertSignal" ("subject", "spriteId", "snapshot")
  VALUES ('sprite', NEW.id, jsonb_build_object('name', NEW.name, 'status', NEW.status, 'removed', NEW."removedAt" IS NOT NULL));
  RETURN NULL;
END
$$;

CREATE TRIGGER "Sprite_alert_signal" AFTER UPDATE OF status, "removedAt" ON "Sprite"
  FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status OR NEW."removedAt" IS DISTINCT FROM OLD."removedAt")
  EXECUTE FUNCTION ops_alert_sprite_signal();

-- Deliveries to one sink for one dedup key go out in the order they were made (a resolve never overtakes its
-- trigger): the dispatcher only claims a delivery when no older one for the same key and sink is pending.
ALTER TABLE "AlertDelivery" ADD COLUMN "seq" BIGSERIAL NOT NULL;
CREATE INDEX "AlertDelivery_dedupKey_sink_idx" ON "AlertDelivery"("dedupKey", "sink", "seq") WHERE "status" = 'PENDING';
