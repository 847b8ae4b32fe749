-- Two migrations created the same partial index on pending deliveries; every pending delivery paid for both.
DROP INDEX "AlertDelivery_pending_key_idx";
