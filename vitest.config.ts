import { createRequire } from "node:module";
import { defineConfig } from "vitest/config";

const require = createRequire(import.meta.url);

// Tests talk to real servers and a real PostgreSQL: one embedded server for the whole run (global setup),
// one database per test file. Files run in forks, at most two at a time (the machine has two cores).
export default defineConfig({
  // Node loads graphql's CommonJS entry for the libraries (Pothos, Yoga); make our own imports agree, or the
  // schema would mix objects from two graphql module instances (as it never does under plain node/tsx).
  resolve: { alias: [{ find: /^graphql$/, replacement: require.resolve("graphql") }] },
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
