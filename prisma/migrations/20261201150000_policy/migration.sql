-- Fleet policy (issue 15): versioned policies with an immutable audit, the engine's runtime switches (kill switch,
-- automation pause), and one candidate row per rule, run and condition episode (src/policy/). A candidate is
-- claimed by one UPDATE ... WHERE status = 'open', so two replicas can never both execute it.

CREATE TABLE "PolicyVersion" (
    "version" INTEGER NOT NULL,
    "doc" JSONB NOT NULL,
    "rationale" TEXT NOT NULL,
    "reviewBy" TIMESTAMPTZ(3) NOT NULL,
    "source" TEXT NOT NULL,
    "actor" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "PolicyVersion_pkey" PRIMARY KEY ("version")
);

CREATE TABLE "PolicyAudit" (
    "id" BIGSERIAL NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT clock_timestamp(),
    "actor" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "version" INTEGER,
    "rationale" TEXT,
    "before" JSONB,
    "after" JSONB,
    CONSTRAINT "PolicyAudit_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "PolicyAudit_at_idx" ON "PolicyAudit"("at");

-- Audit entries and policy versions are written once and never changed: the database refuses it.
CREATE FUNCTION ops_policy_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% rows are immutable', TG_TABLE_NAME USING ERRCODE = 'check_violation';
END
$$;
CREATE TRIGGER "PolicyAudit_immutable" BEFORE UPDATE OR DELETE ON "PolicyAudit" FOR EACH ROW EXECUTE FUNCTION ops_policy_immutable();
CREATE TRIGGER "PolicyVersion_immutable" BEFORE UPDATE OR DELETE ON "PolicyVersion" FOR EACH ROW EXECUTE FUNCTION ops_policy_immutable();

CREATE TABLE "PolicyRuntime" (
    "id" TEXT NOT NULL,
    "killSwitch" BOOLEAN NOT NULL DEFAULT false,
    "killSwitchBy" TEXT,
    "killSwitchNote" TEXT,
    "killSwitchAt" TIMESTAMPTZ(3),
    "paused" TEXT,
    "pausedBy" TEXT,
    "pausedReason" TEXT,
    "pausedAt" TIMESTAMPTZ(3),
    "resumedAt" TIMESTAMPTZ(3),
    CONSTRAINT "PolicyRuntime_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "PolicyCandidate" (
    "id" TEXT NOT NULL,
    "ruleId" TEXT NOT NULL,
    "runId" TEXT NOT NULL,
    "episodeKey" TEXT NOT NULL,
    "condition" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "severity" TEXT NOT NULL,
    "since" TIMESTAMPTZ(3) NOT NULL,
    "detail" TEXT NOT NULL,
    "policyVersion" INTEGER NOT NULL,
    "eligible" BOOLEAN NOT NULL DEFAULT false,
    "reasons" JSONB NOT NULL DEFAULT '[]',
    "status" TEXT NOT NULL DEFAULT 'open',
    "firstSeenAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastSeenAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "endedAt" TIMESTAMPTZ(3),
    "intentId" TEXT,
    "executedBy" TEXT,
    "executedAuto" BOOLEAN NOT NULL DEFAULT false,
    "executedAt" TIMESTAMPTZ(3),
    "executedReplica" TEXT,
    "suppressedBy" TEXT,
    "suppressedNote" TEXT,
    "suppressedUntil" TIMESTAMPTZ(3),
    CONSTRAINT "PolicyCandidate_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "PolicyCandidate_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "PolicyCandidate_ruleId_runId_episodeKey_key" ON "PolicyCandidate"("ruleId", "runId", "episodeKey");
CREATE INDEX "PolicyCandidate_status_idx" ON "PolicyCandidate"("status");
CREATE INDEX "PolicyCandidate_executedAt_idx" ON "PolicyCandidate"("executedAt");
