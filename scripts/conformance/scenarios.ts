import type { Scenario } from "./harness";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// The runtime edges of docs/runtime.md, one scenario per edge. Each step is what an operator (or the manager) would do; the harness
// records what the binary answered. Kept short: the real runtime takes tens of seconds per iteration here.

export const SCENARIOS: readonly Scenario[] = [
  {
    name: "success",
    description: "approval disabled, every role succeeds: one iteration, loop_complete, exit 0",
    run: async (h) => {
      h.writeConfig({ maxIterations: 1 });
      await h.call("run", "run");
      h.checkpoint("end");
    },
  },
  {
    name: "approval-approve-run",
    description: "approval enabled: approval_requested and exit 0; approve → approval_decision; another run consumes it and completes",
    run: async (h) => {
      h.writeConfig({ maxIterations: 1, approval: true });
      await h.call("run", "run");
      h.checkpoint("requested");
      await h.call("approve", "approve", ["--by", "operator", "--note", "looks good"]);
      h.checkpoint("approved");
      await h.call("run-again", "run");
      h.checkpoint("completed");
    },
  },
  {
    name: "reject",
    description: "approval, approve --reject, another run: approval_rejected then a new iteration that asks again",
    run: async (h) => {
      h.writeConfig({ maxIterations: 1, approval: true });
      await h.call("run", "run");
      await h.call("reject", "approve", ["--by", "operator", "--note", "needs tests", "--reject"]);
      h.checkpoint("rejected");
      await h.call("run-again", "run");
      h.checkpoint("asked-again");
    },
  },
  {
    name: "approval-wait",
    description: "a run while approval.json is pending: loop_start, approval_wait, state inactive, exit 0",
    run: async (h) => {
      h.writeConfig({ maxIterations: 1, approval: true });
      await h.call("run", "run");
      await h.call("run-while-pending", "run");
      h.checkpoint("waiting");
    },
  },
  {
    name: "crash",
    description: "the planner's runner exits 1: exit 1, no event after role_start, state.active stays true, active-run.json removed",
    run: async (h) => {
      h.writeConfig({ maxIterations: 1, roles: { planner: "failure" } });
      await h.call("run", "run");
      h.checkpoint("end");
    },
  },
  {
    name: "start-refused-stale",
    description: "after a crash the next run is refused (state.active), exit 1, no event; cancel clears state.json; then run works",
    run: async (h) => {
      h.writeConfig({ maxIterations: 1, roles: { planner: "failure" } });
      await h.call("run", "run");
      await h.call("run-refused", "run");
      h.checkpoint("refused");
      await h.call("cancel", "cancel");
      h.checkpoint("cancelled");
      h.writeConfig({ maxIterations: 1 });
      await h.call("run-after-cancel", "run");
      h.checkpoint("restarted");
    },
  },
  {
    name: "rate-limit",
    description: "the planner hits a rate limit: rate_limit_stop (status rate_limited), rate-limit.json, state.active stays true; the next run is refused",
    run: async (h) => {
      // rate limits are detected by the runtime's runner monitor (used when a timeout is set); no retry/wait
      h.extraEnv = { SUPERLOOP_RATE_LIMIT_MAX_RETRIES: "0" };
      h.writeConfig({ maxIterations: 1, roles: { planner: "rate-limit" }, timeoutSeconds: 600 });
      await h.call("run", "run");
      h.checkpoint("stopped");
      await h.call("run-refused", "run");
      h.checkpoint("refused");
    },
  },
  {
    name: "role-timeout",
    description: "the implementer hangs past the role timeout: role_timeout (status timeout)",
    run: async (h) => {
      h.writeConfig({ maxIterations: 1, roles: { implementer: "timeout" }, timeoutSeconds: 3 });
      await h.call("run", "run");
      h.checkpoint("end");
    },
  },
  {
    name: "stuck",
    description: "no progress across iterations with stuck detection on: loop_stop reason stuck, stuck.json; the next run is refused",
    run: async (h) => {
      h.writeConfig({ maxIterations: 3, stuckThreshold: 1, roles: { planner: "no-promise", implementer: "no-promise", tester: "no-promise", reviewer: "no-promise" } });
      await h.call("run", "run");
      h.checkpoint("stopped");
      await h.call("run-refused", "run");
      h.checkpoint("refused");
    },
  },
  {
    name: "max-iterations",
    description: "no role ever emits the promise: loop_stop reason max_iterations",
    run: async (h) => {
      h.writeConfig({ maxIterations: 1, roles: { planner: "no-promise", implementer: "no-promise", tester: "no-promise", reviewer: "no-promise" } });
      await h.call("run", "run");
      h.checkpoint("end");
    },
  },
  {
    name: "cancel-live",
    description: "cancel while the implementer hangs: exit 0, state.json and active-run.json deleted, no event, the run's processes gone",
    run: async (h) => {
      h.writeConfig({ maxIterations: 1, roles: { implementer: "timeout" } });
      const run = h.spawnCall("run", "run");
      await h.waitForEvent("role_start", "implementer");
      h.checkpoint("running");
      await h.call("cancel", "cancel");
      await run.exit;
      // the CLI exits before every member of its group has died: record the settled state, not the race
      await h.waitFor("the cancelled group to be gone", () => !h.runAlive(), 10_000);
      h.checkpoint("cancelled");
    },
  },
  {
    name: "cancel-startup",
    description: "cancel 0.3 s after run starts: 'No active state file found.', exit 0; the run goes on (active-run.json, loop_start); a second cancel stops it",
    run: async (h) => {
      h.writeConfig({ maxIterations: 1, roles: { implementer: "timeout" } });
      const run = h.spawnCall("run", "run");
      await sleep(300);
      await h.call("cancel-early", "cancel");
      h.checkpoint("after-early-cancel");
      await h.waitForEvent("role_start", "implementer");
      h.checkpoint("run-goes-on");
      await h.call("cancel-again", "cancel");
      await run.exit;
      await h.waitFor("the cancelled group to be gone", () => !h.runAlive(), 10_000);
      h.checkpoint("cancelled");
    },
  },
  {
    name: "sigkill",
    description: "kill -9 of the run's group: active-run.json stays with a dead pid, state.active true; the next run is refused",
    run: async (h) => {
      h.writeConfig({ maxIterations: 1, roles: { implementer: "timeout" } });
      const run = h.spawnCall("run", "run");
      await h.waitForEvent("role_start", "implementer");
      h.kill9();
      await run.exit;
      await h.waitFor("the killed group to be gone", () => !h.runAlive(), 10_000);
      h.checkpoint("killed");
      await h.call("run-refused", "run");
      h.checkpoint("refused");
    },
  },
];
