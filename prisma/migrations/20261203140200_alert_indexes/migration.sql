-- Indexes the alert path pays for on every row and no query uses:
-- * AlertEpisode(runId): episodes are only looked up by run while open (AlertEpisode_open_run_idx).
-- * AlertDelivery(status, createdAt): nothing orders by createdAt within a status; /metrics counts the deliveries
--   not delivered, which a partial index over exactly those answers without reading the delivered ones (and a
--   delivery that is delivered leaves it instead of adding an entry).
DROP INDEX "AlertEpisode_runId_idx";
DROP INDEX "AlertDelivery_status_createdAt_idx";
CREATE INDEX "AlertDelivery_undelivered_idx" ON "AlertDelivery"(status) WHERE status <> 'DELIVERED';
