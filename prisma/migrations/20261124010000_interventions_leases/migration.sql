-- AlterTable
ALTER TABLE "Run" ADD COLUMN "needsIntervention" BOOLEAN NOT NULL DEFAULT false;

-- CreateIndex
CREATE INDEX "Run_needsIntervention_idx" ON "Run"("needsIntervention");

-- CreateTable
CREATE TABLE "RunLease" (
    "runId" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "token" INTEGER NOT NULL DEFAULT 1,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "RunLease_pkey" PRIMARY KEY ("runId")
);

-- CreateIndex
CREATE INDEX "RunLease_owner_idx" ON "RunLease"("owner");

-- CreateIndex
CREATE INDEX "RunLease_expiresAt_idx" ON "RunLease"("expiresAt");

-- AddForeignKey
ALTER TABLE "RunLease" ADD CONSTRAINT "RunLease_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;
