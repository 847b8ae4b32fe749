import type { HealthOverrides } from "../src/transports/config";

// The demo fleet: one Sprite per thing an operator should recognise at a glance. Each Sprite's loop is
// scripted through the simulator's per-loop config (see sim/cli.ts): the outcome of its 1st, 2nd, ...
// `run`, how fast roles go, whether approval is required.

export type DemoBehaviour = "pass" | "maxiter" | "crash" | "stuck";

export interface DemoSprite {
  name: string;
  loopId: string;
  /** what an operator should see, shown in logs and the README */
  story: string;
  maxIterations: number;
  approval: boolean;
  /** outcome of the 1st, 2nd, ... run; later runs pass */
  invocations: DemoBehaviour[];
  passOnIteration: number;
  /** milliseconds per agent role at speed 1 */
  stepMs: number;
  healthOverrides?: HealthOverrides;
}

export const DEMO_LOOP_ID = "demo-loop";

export const DEMO_FLEET: readonly DemoSprite[] = [
  {
    name: "demo-complete",
    loopId: DEMO_LOOP_ID,
    story: "passes its gates in the second iteration and completes (no approval)",
    maxIterations: 3,
    approval: false,
    invocations: ["pass"],
    passOnIteration: 2,
    stepMs: 1500,
  },
  {
    name: "demo-approval",
    loopId: DEMO_LOOP_ID,
    story: "passes and waits for a human: approve (with resume) and it completes",
    maxIterations: 3,
    approval: true,
    invocations: ["pass"],
    passOnIteration: 1,
    stepMs: 1200,
  },
  {
    name: "demo-busy",
    loopId: DEMO_LOOP_ID,
    story: "a long loop that keeps working for several minutes (live event feed), then completes",
    maxIterations: 60,
    approval: false,
    invocations: ["pass"],
    passOnIteration: 40,
    stepMs: 2000,
  },
  {
    name: "demo-stuck",
    loopId: DEMO_LOOP_ID,
    story: "its agent hangs: the process lives but writes nothing, so it turns stale within ~10 s",
    maxIterations: 3,
    approval: false,
    invocations: ["stuck"],
    passOnIteration: 1,
    stepMs: 1000,
    // The balanced profile waits 5 minutes before calling a silent run stale; the demo should show it now.
    healthOverrides: { ingestLagWarningSec: 8, ingestLagCriticalSec: 20 },
  },
  {
    name: "demo-crash",
    loopId: DEMO_LOOP_ID,
    story: "its planner runner exits 1 and the runtime dies (FAILED/runtime_died); start it again to recover",
    maxIterations: 3,
    approval: false,
    invocations: ["crash"],
    passOnIteration: 1,
    stepMs: 1000,
  },
  {
    name: "demo-maxiter",
    loopId: DEMO_LOOP_ID,
    story: "never emits the completion promise and stops at max_iterations (STOPPED)",
    maxIterations: 2,
    approval: false,
    invocations: ["maxiter"],
    passOnIteration: 1,
    stepMs: 700,
  },
];
