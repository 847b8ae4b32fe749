-- AlterTable
ALTER TABLE "Sprite" ADD COLUMN     "demo" BOOLEAN NOT NULL DEFAULT false;

-- Demo Sprites registered before this column existed: the demo driver names them demo-* and keeps their repos
-- under <OPS_DATA_DIR>/demo/<name>. Marking them lets `--demo=off` remove them and keeps the simulator off real repos.
UPDATE "Sprite" s SET "demo" = true
WHERE s."name" LIKE 'demo-%' AND s."transport" = 'LOCAL'
  AND EXISTS (SELECT 1 FROM "Run" r WHERE r."spriteId" = s."id" AND r."repoPath" LIKE '%/demo/' || s."name");
