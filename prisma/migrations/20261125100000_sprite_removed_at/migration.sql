-- removeSprite without purge: the Sprite stops being polled but keeps its runs' history.
ALTER TABLE "Sprite" ADD COLUMN "removedAt" TIMESTAMPTZ(3);
CREATE INDEX "Sprite_removedAt_idx" ON "Sprite" ("removedAt");
