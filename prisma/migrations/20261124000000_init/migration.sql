-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "TransportKind" AS ENUM ('LOCAL', 'SPRITE_SERVICE', 'SPRITES_API');

-- CreateEnum
CREATE TYPE "SpriteStatus" AS ENUM ('COLD', 'WARM', 'RUNNING', 'UNREACHABLE', 'MISSING', 'UNKNOWN');

-- CreateEnum
CREATE TYPE "LifecycleState" AS ENUM ('RUNNING', 'PAUSED', 'AWAITING_APPROVAL', 'COMPLETE', 'STOPPED', 'FAILED', 'IDLE', 'UNKNOWN');

-- CreateEnum
CREATE TYPE "IngestStatus" AS ENUM ('OK', 'FORKED', 'ERROR');

-- CreateEnum
CREATE TYPE "HealthStatus" AS ENUM ('HEALTHY', 'DEGRADED', 'CRITICAL');

-- CreateEnum
CREATE TYPE "ControlMode" AS ENUM ('ENABLED', 'DISABLED');

-- CreateEnum
CREATE TYPE "IntentKind" AS ENUM ('CANCEL', 'APPROVE', 'REJECT', 'PAUSE', 'RESUME', 'START');

-- CreateEnum
CREATE TYPE "IntentStage" AS ENUM ('REQUESTED', 'DISPATCHED', 'ACCEPTED', 'CONFIRMED', 'FAILED', 'AMBIGUOUS', 'REJECTED');

-- CreateTable
CREATE TABLE "Sprite" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "transport" "TransportKind" NOT NULL,
    "transportConfig" JSONB NOT NULL DEFAULT '{}',
    "status" "SpriteStatus" NOT NULL DEFAULT 'UNKNOWN',
    "lastSeenAt" TIMESTAMPTZ(3),
    "controlMode" "ControlMode" NOT NULL DEFAULT 'ENABLED',
    "healthProfile" TEXT NOT NULL DEFAULT 'balanced',
    "pollIntervalMs" INTEGER,
    "maxConcurrentRuns" INTEGER NOT NULL DEFAULT 1,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "Sprite_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Run" (
    "id" TEXT NOT NULL,
    "spriteId" TEXT NOT NULL,
    "loopId" TEXT NOT NULL,
    "repoPath" TEXT NOT NULL,
    "runtimeRunId" TEXT,
    "iteration" INTEGER,
    "state" "LifecycleState" NOT NULL DEFAULT 'IDLE',
    "stateReason" TEXT NOT NULL DEFAULT 'not_started',
    "stateSince" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "divergence" JSONB NOT NULL DEFAULT '{}',
    "health" "HealthStatus" NOT NULL DEFAULT 'HEALTHY',
    "healthReasons" JSONB NOT NULL DEFAULT '[]',
    "approval" JSONB,
    "gates" JSONB,
    "stuck" JSONB,
    "lastEventName" TEXT,
    "lastEventAt" TIMESTAMPTZ(3),
    "cursorLine" INTEGER NOT NULL DEFAULT 0,
    "cursorByteOffset" BIGINT NOT NULL DEFAULT 0,
    "cursorLineHash" TEXT,
    "ingestStatus" "IngestStatus" NOT NULL DEFAULT 'OK',
    "ingestError" TEXT,
    "facts" JSONB,
    "lastPolledAt" TIMESTAMPTZ(3),
    "seq" INTEGER NOT NULL DEFAULT 0,
    "removedAt" TIMESTAMPTZ(3),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "Run_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Event" (
    "id" BIGSERIAL NOT NULL,
    "runId" TEXT NOT NULL,
    "line" INTEGER NOT NULL,
    "timestamp" TIMESTAMPTZ(3) NOT NULL,
    "name" TEXT NOT NULL,
    "role" TEXT,
    "status" TEXT,
    "message" TEXT,
    "runtimeRunId" TEXT,
    "iteration" INTEGER,
    "payload" JSONB,
    "raw" JSONB NOT NULL,
    "ingestedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Event_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "LifecycleTransition" (
    "id" BIGSERIAL NOT NULL,
    "runId" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "from" "LifecycleState",
    "to" "LifecycleState" NOT NULL,
    "reason" TEXT NOT NULL,
    "trigger" TEXT NOT NULL,
    "actor" TEXT,
    "evidence" JSONB NOT NULL DEFAULT '{}',
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "LifecycleTransition_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ControlIntent" (
    "id" TEXT NOT NULL,
    "runId" TEXT NOT NULL,
    "kind" "IntentKind" NOT NULL,
    "stage" "IntentStage" NOT NULL DEFAULT 'REQUESTED',
    "idempotencyKey" TEXT NOT NULL,
    "requestedBy" TEXT NOT NULL,
    "note" TEXT,
    "resumeAfterApprove" BOOLEAN NOT NULL DEFAULT false,
    "traceId" TEXT NOT NULL,
    "evidence" JSONB NOT NULL DEFAULT '[]',
    "error" TEXT,
    "deadlineAt" TIMESTAMPTZ(3) NOT NULL,
    "requestedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "dispatchedAt" TIMESTAMPTZ(3),
    "acceptedAt" TIMESTAMPTZ(3),
    "confirmedAt" TIMESTAMPTZ(3),
    "endedAt" TIMESTAMPTZ(3),
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "ControlIntent_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Sprite_name_key" ON "Sprite"("name");

-- CreateIndex
CREATE INDEX "Run_state_idx" ON "Run"("state");

-- CreateIndex
CREATE UNIQUE INDEX "Run_spriteId_loopId_key" ON "Run"("spriteId", "loopId");

-- CreateIndex
CREATE UNIQUE INDEX "Event_runId_line_key" ON "Event"("runId", "line");

-- CreateIndex
CREATE INDEX "LifecycleTransition_runId_seq_idx" ON "LifecycleTransition"("runId", "seq");

-- CreateIndex
CREATE INDEX "LifecycleTransition_at_idx" ON "LifecycleTransition"("at");

-- CreateIndex
CREATE INDEX "ControlIntent_runId_stage_idx" ON "ControlIntent"("runId", "stage");

-- CreateIndex
CREATE INDEX "ControlIntent_requestedAt_idx" ON "ControlIntent"("requestedAt");

-- CreateIndex
CREATE UNIQUE INDEX "ControlIntent_runId_idempotencyKey_key" ON "ControlIntent"("runId", "idempotencyKey");

-- AddForeignKey
ALTER TABLE "Run" ADD CONSTRAINT "Run_spriteId_fkey" FOREIGN KEY ("spriteId") REFERENCES "Sprite"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Event" ADD CONSTRAINT "Event_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "LifecycleTransition" ADD CONSTRAINT "LifecycleTransition_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ControlIntent" ADD CONSTRAINT "ControlIntent_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;
