-- Issue 11: awake time the manager causes per Sprite, and the Sprites API's labels.
ALTER TABLE "Sprite" ADD COLUMN "awakeByManagerSeconds" DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE "Sprite" ADD COLUMN "labels" TEXT[] DEFAULT ARRAY[]::TEXT[];
