// superloop-sim: a stand-in for `superloop.sh` (docs/runtime.md) that tests and the demo fleet run
// instead of real AI agents; point SUPERLOOP_BIN at bin/superloop-sim.mjs and control intents act on real artifacts in --repo. The
// files it writes follow the recordings in test/fixtures/recordings in shape (field order, ISO
// seconds, pretty JSON), with the runtime's quirks: cancel writes no event and deletes state.json; approve does
// not complete; completion after an approval needs another `run`, which consumes it under the ORIGINAL run id;
// a crashed runner leaves state.active=true without active-run.json.
//
//   superloop-sim run     --repo R [--loop ID]      (without --loop: the first loop in config.json, else demo-loop)
//   superloop-sim cancel  --repo R
//   superloop-sim approve --repo R --loop ID --by NAME [--note T] [--reject]
//   superloop-sim status  --repo R
//
// What a `run` does is scripted in one of two ways (an approved or rejected approval.json takes precedence:
// approved → approval_consumed + loop_complete; rejected → approval_rejected, a new iteration that asks again).
//
// 1. Per loop, in `.superloop/config.json` (ignored by the real runtime). A loop entry with a `simulator`
//    object is scripted by it, and that wins over the environment for that loop (the demo fleet uses this):
//      { "id": "L", "max_iterations": 3, "approval": { "enabled": true },
//        "simulator": { "step_ms": 1000, "pass_on_iteration": 1, "invocations": ["crash", "pass"] } }
//    `invocations` lists the outcome of the 1st, 2nd, ... `run` of that loop: "pass" (promise matched from
//    iteration pass_on_iteration on; then approval pending if approval.enabled, else loop_complete), "maxiter"
//    (never matches: loop_stop max_iterations), "crash", "stuck"; later runs "pass". Counting the loop_start
//    lines in events.jsonl keeps the script in the artifacts, so a restarted manager sees the same behaviour.
//
// 2. Otherwise, by environment variables (tests of the control paths use these):
//      SIM_APPROVAL=1        pending approval.json + approval_requested, state inactive, exit 0
//      SIM_OUTCOME=complete  loop_complete + summary completion_ok (the default)
//      SIM_OUTCOME=hang      stops writing mid-iteration and sleeps until signalled (cancel / pause tests)
//      SIM_OUTCOME=crash     exits 1 right after the planner's role_start: state stays active, active-run.json goes
//      SIM_STEP_MS           pause between events (default 200)
//    SIM_APPROVAL wins over SIM_OUTCOME.
//
// 3. Otherwise, when the loop's roles use the runtime's own mock runner (`tests/helpers/mock-runner.sh <mode>`,
//    as scripts/conformance/harness.ts writes config.json), each role behaves like that mode does on the real
//    runtime (recorded in test/fixtures/runtime/): success, no-promise, failure (the runtime dies: exit 1, state
//    stays active), timeout (hangs; with `timeouts.enabled` a role_timeout after `timeouts.default` s), and a
//    provider's one-line rate-limit error (with a timeout set: rate_limit_stop + rate-limit.json). `stuck.enabled`
//    with a threshold stops with loop_stop/stuck and stuck.json after that many promise-less iterations.
//
// Like the real runtime (docs/runtime.md): a run takes SIM_STARTUP_MS (default 600) before it writes active-run.json and
// loop_start, so a cancel in that window finds nothing ("No active state file found.") and the run goes on; a run
// over `state.active` of its loop is refused ("reentrant run blocked", exit 1, no event), and so is a run while
// stuck.json has reached its threshold; a run while approval.json is pending writes loop_start and approval_wait
// and exits 0; max_iterations exits 1; cancel prints the runtime's lines and only signals a pid whose command
// line is a superloop run.
//
// Outcomes: "stuck" (= hang) keeps a live process that writes nothing after the implementer's role_start;
// "crash" exits 1 after the planner's role_start. In both ways SIM_ARGV_LOG=FILE appends each invocation's argv
// as one JSON line (tests count dispatches with it). A `run` records its pid and process group in
// active-run.json; cancel signals that group. The executable is bin/superloop-sim.mjs (the manager spawns it
// like the real CLI: argv, no shell); it runs these files from a bundle (see there why).

import { approve, cancel, logArgv, status, type CommandOptions } from "./commands";
import { fail } from "./files";
import { run } from "./run";

const USAGE = "usage: superloop-sim run|cancel|approve|status --repo R [--loop ID] [--by NAME] [--note T] [--reject]\n";

interface Options extends CommandOptions {
  command: string | undefined;
}

const VALUED = { "--repo": "repo", "--loop": "loop", "--by": "by", "--note": "note" } as const;

function isValued(arg: string): arg is keyof typeof VALUED {
  return Object.hasOwn(VALUED, arg);
}

/** The runtime CLI's own options: a wrong one is a usage error (exit 2). */
export function parseArgs(argv: readonly string[]): Options {
  const [command, ...rest] = argv;
  const opts: Options = { command, reject: false };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === "--reject") opts.reject = true;
    else if (isValued(arg)) {
      const value = rest[++i];
      if (value === undefined) fail(`${arg} needs a value`, 2);
      opts[VALUED[arg]] = value;
    } else fail(`unknown argument ${arg}`, 2);
  }
  return opts;
}

/** One invocation: `argv` without node and the script (process.argv.slice(2)). Exits the process when done. */
export async function main(argv: string[]): Promise<void> {
  logArgv(argv);
  const opts = parseArgs(argv);
  switch (opts.command) {
    case "run":
      await run(opts);
      break;
    case "cancel":
      await cancel(opts);
      break;
    case "approve":
      approve(opts);
      break;
    case "status":
      status(opts);
      break;
    default:
      process.stdout.write(USAGE);
      process.exit(opts.command === undefined || opts.command === "--help" ? 0 : 2);
  }
}
