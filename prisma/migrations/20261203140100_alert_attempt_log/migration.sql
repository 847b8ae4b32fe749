-- A delivery's attempts live in the delivery row (attemptLog, appended by the UPDATE that records the attempt)
-- instead of a row each in AlertAttempt: one write per attempt instead of an INSERT (with its foreign-key check
-- and two index entries) beside the UPDATE, and listing deliveries with their attempts is one query, not one per
-- delivery.
ALTER TABLE "AlertDelivery" ADD COLUMN "attemptLog" JSONB NOT NULL DEFAULT '[]';
UPDATE "AlertDelivery" d SET "attemptLog" = a.log
  FROM (SELECT "deliveryId",
               jsonb_agg(jsonb_build_object('n', n, 'startedAt', "startedAt", 'latencyMs', "latencyMs", 'httpStatus', "httpStatus",
                                            'error', error, 'outcome', outcome) ORDER BY id) AS log
          FROM "AlertAttempt" GROUP BY "deliveryId") a
 WHERE a."deliveryId" = d.id;
DROP TABLE "AlertAttempt";
