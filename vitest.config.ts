import { defineConfig } from "vitest/config";

// Tests talk to real servers and a real PostgreSQL: one embedded server for the whole run (global setup),
// one database per test file. Files run in forks, at most two at a time (the machine has two cores).
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ["default"],
  },
});
