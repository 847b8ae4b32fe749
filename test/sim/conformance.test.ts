import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runScenario, type Binary, type Checkpoint, type Recording } from "../../scripts/conformance/harness";
import { SCENARIOS } from "../../scripts/conformance/scenarios";

// The simulator against the recordings of the real runtime (`npm run conformance`, test/fixtures/runtime/): the
// same scenario scripts run through the simulator (bin/superloop-sim.mjs), and what it did must match what the real
// superloop.sh did, after normalising timestamps, run ids, pids and paths: the same files, the same event names
// (with status, role and stop reason) in the same order, the same refusals, output verdicts and exit codes.

const RECORDINGS = path.resolve(import.meta.dirname, "../fixtures/runtime");
const SIM: Binary = {
  argv: [process.execPath, path.resolve(import.meta.dirname, "../../bin/superloop-sim.mjs")],
  // written into config.json like the harness does for the real runtime; the simulator only reads its mode
  mockRunner: "/opt/superloop/tests/helpers/mock-runner.sh",
  // faster roles; a startup window long enough for the 0.3 s cancel of cancel-startup to land inside it
  env: { SIM_STEP_MS: "5", SIM_STARTUP_MS: "900" },
  supportsInit: false,
};
// Where "is a process of the run still alive" is the point of the scenario. Elsewhere a leftover runner child
// of the real runtime (e.g. the mock's `sleep` after a role timeout) is a detail the simulator need not copy.
const LIVENESS_MATTERS = new Set(["cancel-live", "cancel-startup", "sigkill"]);

function recording(name: string): Recording | null {
  const file = path.join(RECORDINGS, name, "recording.json");
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Recording) : null;
}

function comparable(cp: Checkpoint, liveness: boolean) {
  return {
    label: cp.label,
    files: cp.files,
    state: cp.state,
    activeRunStage: cp.activeRunStage,
    approvalStatus: cp.approvalStatus,
    events: cp.events.map((e) => [e.event, e.status, e.role, e.reason].filter((x) => x !== null).join(" ")),
    activeRunPidDead: cp.activeRunPidDead,
    ...(liveness ? { runAlive: cp.runAlive } : {}),
  };
}

function calls(r: Recording) {
  return Object.fromEntries(r.calls.map((c) => [c.label, { command: c.command, exitCode: c.exitCode, verdict: c.keyLines[0] ?? null }]));
}

describe("the simulator matches the recordings of the real runtime", () => {
  it("every scenario has a recording", () => {
    expect(SCENARIOS.filter((s) => recording(s.name) === null).map((s) => s.name)).toEqual([]);
  });

  it.each(SCENARIOS.map((s) => [s.name, s] as const))(
    "%s",
    async (name, scenario) => {
      const real = recording(name)!;
      const { recording: sim } = await runScenario(SIM, scenario);
      const liveness = LIVENESS_MATTERS.has(name);
      expect(calls(sim)).toEqual(calls(real));
      expect(sim.checkpoints.map((cp) => comparable(cp, liveness))).toEqual(real.checkpoints.map((cp) => comparable(cp, liveness)));
    },
    60_000,
  );
});
