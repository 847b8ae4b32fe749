-- runs(filter) pages observed runs oldest first by (createdAt, id) (src/runs/run-reads.ts): in that order from an
-- index, a page reads its 50 runs and the runs the filter skips, and stops; without it every page read, joined and
-- sorted every run of the fleet (bench:query).
CREATE INDEX "Run_createdAt_id_idx" ON "Run"("createdAt", "id");
