-- Events are stored once: the original line as text, packed against the row's columns (src/events/line-codec.ts),
-- instead of the line parsed twice into jsonb ("payload" = its data, "raw" = all of it).
-- Rows stored before this migration never kept their original bytes (jsonb re-orders keys and re-spaces): they
-- become jsonb's rendering of the line, marked verbatim (a leading U+001F), which is the best that is left.
ALTER TABLE "Event" ADD COLUMN "packed" TEXT;
UPDATE "Event" SET "packed" = chr(31) || "raw"::text;
ALTER TABLE "Event" ALTER COLUMN "packed" SET NOT NULL;
ALTER TABLE "Event" DROP COLUMN "payload", DROP COLUMN "raw";
