import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";

// CI judges `npm test` by its exit code. A failing test must make vitest exit non-zero with this suite's own
// global setup loaded (an exit hook in a dependency once forced exit code 0 over failures).
const root = path.resolve(import.meta.dirname, "../..");
const dir = mkdtempSync(path.join(tmpdir(), "ops-exit-code-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runVitest(body: string): number | null {
  writeFileSync(path.join(dir, "probe.test.ts"), `import { it, expect } from "vitest";\nit("probe", () => { ${body} });\n`);
  writeFileSync(
    path.join(dir, "vitest.config.mjs"),
    `export default { test: { root: ${JSON.stringify(dir)}, include: ["probe.test.ts"], globalSetup: [${JSON.stringify(path.join(root, "test/support/global-setup.ts"))}] } };\n`,
  );
  const r = spawnSync(path.join(root, "node_modules/.bin/vitest"), ["run", "--config", path.join(dir, "vitest.config.mjs")], { cwd: root, encoding: "utf8", timeout: 60_000 });
  return r.status;
}

it("a failing test makes the run exit 1, a passing one 0", () => {
  expect(runVitest("expect(1).toBe(2);")).toBe(1);
  expect(runVitest("expect(1).toBe(1);")).toBe(0);
}, 120_000);
