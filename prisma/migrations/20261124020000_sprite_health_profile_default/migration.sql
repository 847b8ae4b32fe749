-- A sprite follows the global OPS_HEALTH_PROFILE unless an operator picks a profile for it.
ALTER TABLE "Sprite" ALTER COLUMN "healthProfile" SET DEFAULT 'default';
UPDATE "Sprite" SET "healthProfile" = 'default' WHERE "healthProfile" = 'balanced';
