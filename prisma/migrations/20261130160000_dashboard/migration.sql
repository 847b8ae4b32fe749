-- Dashboard (issue 16): acknowledged / snoozed interventions, and indexes for the run page's history reads
-- (attempts, swimlane, sign-off read a few event names of one run; the fleet's sparklines count a run's recent events).

-- CreateTable
CREATE TABLE "InterventionAck" (
    "id" TEXT NOT NULL,
    "runId" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "by" TEXT NOT NULL,
    "note" TEXT,
    "until" TIMESTAMPTZ(3),
    "reasonCodes" JSONB NOT NULL DEFAULT '[]',
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "clearedAt" TIMESTAMPTZ(3),

    CONSTRAINT "InterventionAck_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "InterventionAck_runId_createdAt_idx" ON "InterventionAck"("runId", "createdAt");

-- CreateIndex
CREATE INDEX "InterventionAck_createdAt_idx" ON "InterventionAck"("createdAt");

-- AddForeignKey
ALTER TABLE "InterventionAck" ADD CONSTRAINT "InterventionAck_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- CreateIndex
CREATE INDEX "Event_runId_name_idx" ON "Event"("runId", "name");

-- CreateIndex
CREATE INDEX "Event_runId_timestamp_idx" ON "Event"("runId", "timestamp");
