-- Issue 18: event retention and archives (src/retention/).
-- Per-Sprite retention on top of the fleet's (null = follow the fleet's).
ALTER TABLE "Sprite" ADD COLUMN "retention" JSONB;
-- The first event line still stored for the run (1 = its whole history); lines before it were pruned.
ALTER TABLE "Run" ADD COLUMN "eventsRetainedFrom" INTEGER NOT NULL DEFAULT 1;
-- The run's archive once written: {file, lines, bytes, sha256, at, by}.
ALTER TABLE "Run" ADD COLUMN "archive" JSONB;
-- The fleet's retention (one row "fleet"), from the fleet file or the setRetention mutation.
CREATE TABLE "RetentionConfig" (
  "id" TEXT NOT NULL PRIMARY KEY,
  "config" JSONB NOT NULL,
  "source" TEXT NOT NULL,
  "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT now()
);
