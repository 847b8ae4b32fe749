-- Scale-out (issue #7): live replicas for lease balancing, and a NOTIFY for every committed change of a run.

-- CreateTable
CREATE TABLE "OpsReplica" (
    "id" TEXT NOT NULL,
    "startedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "heartbeatAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "OpsReplica_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "OpsReplica_heartbeatAt_idx" ON "OpsReplica"("heartbeatAt");

-- Every writer of Run.seq (ingest commit, cursor reset, registration, control intents) announces the change
-- inside its own transaction, so only committed changes are announced and no writer can forget to.
-- Payload: ids and seq only; listeners read the rows (src/cluster/fanout.ts).
CREATE FUNCTION ops_notify_run_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('ops_run_changed', json_build_object('runId', NEW.id, 'seq', NEW.seq)::text);
  RETURN NULL;
END
$$;

CREATE TRIGGER "Run_notify_inserted" AFTER INSERT ON "Run"
  FOR EACH ROW EXECUTE FUNCTION ops_notify_run_changed();

CREATE TRIGGER "Run_notify_seq" AFTER UPDATE OF seq ON "Run"
  FOR EACH ROW WHEN (NEW.seq IS DISTINCT FROM OLD.seq) EXECUTE FUNCTION ops_notify_run_changed();
