import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { runScenario, type Binary } from "./conformance/harness";
import { SCENARIOS } from "./conformance/scenarios";

// `npm run conformance [scenario...]`: drives the REAL Superloop CLI ($SUPERLOOP_HOME/superloop.sh, with its own
// tests/helpers/mock-runner.sh) through the runtime-edge scenarios (docs/runtime.md) and records what it did under
// test/fixtures/runtime/<scenario>/ (recording.json: calls, exit codes, key output lines, checkpoints; files/:
// the tracked files at the end). The simulator is compared with these recordings in test/sim/conformance.test.ts.

const home = process.env["SUPERLOOP_HOME"];
if (!home) {
  console.log("conformance: SUPERLOOP_HOME is not set; skipping. Point it at an extracted Supergent/superloop checkout to record the real runtime.");
  process.exit(0);
}
const binary: Binary = {
  argv: [path.join(home, "superloop.sh")],
  mockRunner: path.join(home, "tests/helpers/mock-runner.sh"),
  supportsInit: true,
};
const out = path.resolve(import.meta.dirname, "../test/fixtures/runtime");
const only = process.argv.slice(2);
let failed = 0;
for (const scenario of SCENARIOS) {
  if (only.length > 0 && !only.includes(scenario.name)) continue;
  const started = Date.now();
  try {
    const { recording, files } = await runScenario(binary, scenario);
    const dir = path.join(out, scenario.name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(path.join(dir, "files"), { recursive: true });
    writeFileSync(path.join(dir, "recording.json"), `${JSON.stringify(recording, null, 2)}\n`);
    for (const [rel, text] of Object.entries(files)) {
      const target = path.join(dir, "files", rel);
      mkdirSync(path.dirname(target), { recursive: true });
      writeFileSync(target, text);
    }
    const calls = recording.calls.map((c) => `${c.label}=${c.exitCode}`).join(" ");
    console.log(`ok   ${scenario.name} (${Math.round((Date.now() - started) / 1000)} s): ${calls}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${scenario.name}: ${(e as Error).message}`);
  }
}
process.exit(failed > 0 ? 1 : 0);
