#!/usr/bin/env node
// superloop-sim: a stand-in for `superloop.sh` (docs/runtime.md) that tests and the demo fleet run
// instead of real AI agents; point SUPERLOOP_BIN here and control intents act on real artifacts in --repo. The
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
// active-run.json; cancel signals that group. Plain JavaScript without dependencies: the manager spawns it
// directly as an executable (argv, no shell).

import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";

const ROLES = ["planner", "implementer", "tester", "reviewer"];
const PROMISE = "SUPERLOOP_COMPLETE";
const GATES = { tests: "skipped", validation: "skipped", prerequisites: "skipped", checklist: "ok", evidence: "skipped", lifecycle: "ok" };

function fail(message, code = 1) {
  process.stderr.write(`superloop-sim: ${message}\n`);
  process.exit(code);
}

function parseArgs(argv) {
  const [command, ...rest] = argv;
  const opts = { command, reject: false };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === "--reject") opts.reject = true;
    else if (arg === "--repo" || arg === "--loop" || arg === "--by" || arg === "--note") {
      const value = rest[++i];
      if (value === undefined) fail(`${arg} needs a value`, 2);
      opts[arg.slice(2)] = value;
    } else fail(`unknown argument ${arg}`, 2);
  }
  return opts;
}

// The runtime writes whole seconds.
const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return null;
  }
}

// A reader must never see half a JSON file: write aside, then rename over.
function writeJson(file, value) {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, file);
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === "EPERM";
  }
}

/** Our process group as `ps -o pgid` reports it (field 5 of /proc/self/stat). */
function ownPgid() {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    const pgid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
    return Number.isInteger(pgid) && pgid > 0 ? pgid : process.pid;
  } catch {
    return process.pid;
  }
}

function paths(repo, loop) {
  const sl = path.join(repo, ".superloop");
  const loopDir = path.join(sl, "loops", loop ?? "_");
  return {
    config: path.join(sl, "config.json"),
    state: path.join(sl, "state.json"),
    activeRun: path.join(sl, "active-run.json"),
    loopDir,
    events: path.join(loopDir, "events.jsonl"),
    summary: path.join(loopDir, "run-summary.json"),
    approval: path.join(loopDir, "approval.json"),
    rel: (name) => `.superloop/loops/${loop}/${name}`,
  };
}

/**
 * How `run` behaves for a loop: the loop's `simulator` entry in config.json if it has one, else the environment.
 * Without --loop, the first loop in config.json (the real CLI runs every configured loop), else "demo-loop".
 */
function loadScript(repo, loopId) {
  const config = readJson(paths(repo).config);
  const loops = Array.isArray(config?.loops) ? config.loops.filter((l) => l && typeof l.id === "string") : [];
  const id = loopId ?? loops[0]?.id ?? "demo-loop";
  const entry = loops.find((l) => l.id === id);
  const sim = entry?.simulator;
  if (sim && typeof sim === "object") {
    return {
      id,
      scripted: true,
      maxIterations: Number(entry.max_iterations ?? 3),
      approval: entry.approval?.enabled === true,
      stepMs: Number(sim.step_ms ?? 1000),
      passOnIteration: Number(sim.pass_on_iteration ?? 1),
      invocations: Array.isArray(sim.invocations) ? sim.invocations : [],
    };
  }
  const mock = mockRoles(config, entry);
  if (mock) {
    const timeouts = entry.timeouts?.enabled === true ? Number(entry.timeouts.default ?? 0) : 0;
    return {
      id,
      scripted: false,
      mock,
      maxIterations: Number(entry.max_iterations ?? 3),
      approval: entry.approval?.enabled === true && entry.approval?.require_on_completion === true,
      stepMs: Math.max(0, Number(process.env.SIM_STEP_MS ?? 50) || 0),
      passOnIteration: 1,
      timeoutSeconds: timeouts,
      stuckThreshold: entry.stuck?.enabled === true ? Number(entry.stuck.threshold ?? 0) : 0,
      invocations: ["mock"],
    };
  }
  const approval = process.env.SIM_APPROVAL === "1";
  const outcome = { complete: "pass", hang: "stuck", crash: "crash" }[process.env.SIM_OUTCOME ?? "complete"] ?? "pass";
  return {
    id,
    scripted: false,
    maxIterations: 3,
    approval,
    stepMs: Math.max(0, Number(process.env.SIM_STEP_MS ?? 200) || 0),
    passOnIteration: 1,
    invocations: [approval ? "pass" : outcome],
    outcome,
  };
}

/**
 * Per role, the mode of the runtime's mock runner the loop's config points it at (null when the loop does not
 * use the mock runner): `mock-runner.sh <mode>`, or a command that prints a provider's rate-limit error.
 */
function mockRoles(config, entry) {
  if (!entry || typeof entry.roles !== "object" || entry.roles === null) return null;
  const runners = config?.runners ?? {};
  const out = {};
  for (const role of ROLES) {
    const name = entry.roles[role]?.runner;
    const command = Array.isArray(runners[name]?.command) ? runners[name].command.map(String) : null;
    if (!command) return null;
    const at = command.findIndex((part) => path.basename(part) === "mock-runner.sh");
    if (at !== -1) out[role] = command[at + 1] ?? "success";
    else if (command.join(" ").includes("rate_limit_error")) out[role] = "rate-limit";
    else return null;
  }
  return out;
}

function countLoopStarts(file) {
  if (!existsSync(file)) return 0;
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.includes('"event":"loop_start"')).length;
}

// One appendFileSync per line: a concurrent reader sees whole lines, or at worst a half line it must wait for.
function appendEvent(file, line) {
  mkdirSync(path.dirname(file), { recursive: true });
  appendFileSync(file, `${JSON.stringify(line)}\n`);
}

// ------------------------------------------------------------------------------------------------ run

function refuse(lines) {
  process.stderr.write(`${lines.join("\n")}\n`);
  process.exit(1);
}

async function run(opts) {
  if (!opts.repo) fail("run needs --repo", 2);
  const repo = path.resolve(opts.repo);
  const cfg = loadScript(repo, opts.loop);
  const loop = cfg.id;
  const p = paths(repo, loop);
  const stateFile = p.state;

  // The real `run` validates its config first (about a second): nothing is written in that window.
  process.stdout.write("Validating config before starting loop...\nConfig validation passed.\n\n");
  await sleep(Math.max(0, Number(process.env.SIM_STARTUP_MS ?? 600) || 0));

  // Refusals of the real runtime (docs/runtime.md): no event, exit 1, the stale state left as it is.
  const state = readJson(stateFile);
  if (state?.active === true) {
    if (!opts.loop) refuse(["Error: A loop is already running (state.json shows active: true)"]);
    if (state.current_loop_id === loop) {
      refuse([
        `Error: loop '${loop}' is already running (reentrant run blocked)`,
        "",
        `Active loop id from state: ${loop}`,
        `State file: ${stateFile}`,
        "",
        "Wait for the active run to finish, or clear stale state only if you are sure no run is active.",
      ]);
    }
  }
  const stuckFile = path.join(p.loopDir, "stuck.json");
  const stuck = readJson(stuckFile);
  if (stuck && Number(stuck.threshold) > 0 && Number(stuck.streak) >= Number(stuck.threshold)) {
    refuse([`Error: Loop has reached stuck threshold (${stuck.streak}/${stuck.threshold} iterations)`, "", `  1. Review the stuck state: cat ${stuckFile}`]);
  }

  const decided = readJson(p.approval);
  // env scripting: every run has the same outcome; config scripting: the n-th run of the loop, then "pass"
  let behaviour = cfg.scripted ? (cfg.invocations[countLoopStarts(p.events)] ?? "pass") : cfg.invocations[0];
  const runId = now();
  const pgid = ownPgid();

  const emit = (event, fields = {}) => {
    // Field order as in the recordings: timestamp, event, loop_id, run_id, iteration, role?, status?, data.
    const line = { timestamp: now(), event, loop_id: loop, run_id: fields.run_id ?? runId, iteration: fields.iteration ?? 1 };
    if (fields.role) line.role = fields.role;
    if (fields.status) line.status = fields.status;
    line.data = fields.data ?? {};
    appendEvent(p.events, line);
  };
  // active-run.json: stage is only ever run_start or loop_start, iteration is not updated per iteration.
  const setActiveRun = (stage) => writeJson(p.activeRun, { repo, pid: process.pid, pgid, loop_id: loop, iteration: 1, stage, updated_at: now() });
  const setState = (next) => writeJson(stateFile, { ...next, updated_at: now() });
  const finish = (code) => {
    rmSync(p.activeRun, { force: true });
    process.exit(code);
  };
  const step = () => sleep(cfg.stepMs);
  const logFile = (iteration, role) => `${repo}/${p.rel(`logs/iter-${iteration}/${role}.log`)}`;

  setActiveRun("run_start");
  setActiveRun("loop_start");
  const startData = { spec_file: `.superloop/specs/${cfg.scripted ? "demo" : "test"}.md`, max_iterations: cfg.maxIterations, tests_mode: "disabled", test_commands: [], checklists: [] };
  if (cfg.scripted) startData.simulator = { behaviour };
  emit("loop_start", { data: startData });

  if (decided?.status === "pending") {
    // A run while a decision is pending only says so: approval_wait, state inactive, exit 0.
    emit("approval_wait", { iteration: decided.iteration ?? 1, data: { status: "pending", approval_file: p.rel("approval.json") } });
    setState({ active: false, loop_index: 0, iteration: decided.iteration ?? 1, current_loop_id: loop });
    process.stdout.write(`Approval pending for loop '${loop}'. Run: superloop.sh approve --repo ${repo} --loop ${loop}\n`);
    finish(0);
  }

  if (decided?.status === "approved") {
    // Completion after an approval: consumed and completed under the ORIGINAL run id; approval.json goes.
    const decision = decided.decision ?? { status: "approved", by: decided.decided_by ?? "", note: decided.decided_note ?? "", at: decided.decided_at ?? now() };
    emit("approval_consumed", { run_id: decided.run_id, iteration: decided.iteration, data: decision });
    await sleep(Math.min(cfg.stepMs, 500));
    const summary = readJson(p.summary) ?? { version: 1, loop_id: loop, updated_at: now(), entries: [] };
    const last = summary.entries[summary.entries.length - 1] ?? { run_id: decided.run_id, iteration: decided.iteration };
    summary.entries.push({ ...last, gates: { ...(last.gates ?? GATES), approval: "approved" }, completion_ok: true });
    summary.updated_at = now();
    writeJson(p.summary, summary);
    emit("loop_complete", { run_id: decided.run_id, iteration: decided.iteration, data: { iteration: decided.iteration, run_id: decided.run_id, approval: true } });
    rmSync(p.approval, { force: true });
    setState({ active: false, loop_index: 0, iteration: decided.iteration ?? 1, current_loop_id: loop });
    process.stdout.write(`Loop '${loop}' complete at iteration ${decided.iteration ?? 1} (approved).\n`);
    finish(0);
  }

  let askApproval = cfg.approval;
  if (decided?.status === "rejected") {
    emit("approval_rejected", { data: { status: "rejected", approval_file: p.rel("approval.json") } });
    rmSync(p.approval, { force: true });
    // after a rejection the runtime iterates again and asks again
    askApproval = true;
    if (!cfg.scripted && !cfg.mock) behaviour = "pass";
  }

  let stuckStreak = 0;
  for (let iteration = 1; iteration <= cfg.maxIterations; iteration++) {
    const startedAt = now();
    setState({ active: true, loop_index: 0, iteration, current_loop_id: loop });
    emit("iteration_start", { iteration, data: { started_at: startedAt } });
    for (const role of ROLES) {
      emit("role_start", { iteration, role, data: { log_file: logFile(iteration, role) } });
      const mode = cfg.mock?.[role] ?? null;
      if (behaviour === "crash" || mode === "failure" || (mode === "rate-limit" && !cfg.timeoutSeconds)) {
        // The runner died: `die` exits 1 without an event; the exit trap removes active-run.json, state.json
        // keeps saying active.
        process.stderr.write(`error: runner command failed for role '${role}' (exit 1)\n`);
        finish(1);
      }
      if (mode === "rate-limit") {
        // Detected by the runtime's runner monitor: rate_limit_stop + rate-limit.json; state stays active.
        const rawLine = '{"type":"error","error":{"type":"rate_limit_error","message":"Rate limit exceeded"}}';
        const info = { message: "Rate limit error detected", type: "json", error: { type: "rate_limit_error", message: "Rate limit exceeded" }, raw_line: rawLine, raw_context: [rawLine] };
        const data = { loop_id: loop, run_id: runId, iteration, role, occurred_at: now(), info };
        writeJson(path.join(p.loopDir, "rate-limit.json"), data);
        emit("rate_limit_stop", { iteration, role, status: "rate_limited", data });
        process.stderr.write(`[superloop] Rate limit hit for role '${role}'. State saved; resume with: superloop.sh run --repo ${repo}\n`);
        finish(1);
      }
      if (mode === "timeout" && cfg.timeoutSeconds > 0) {
        await sleep(cfg.timeoutSeconds * 1000);
        emit("role_timeout", { iteration, role, status: "timeout", data: { role, timeout_seconds: cfg.timeoutSeconds } });
        setState({ active: false, loop_index: 0, iteration, current_loop_id: loop });
        process.stderr.write(`\n[superloop] Max timeout reached (${cfg.timeoutSeconds}s). Terminating.\n`);
        finish(1);
      }
      if (behaviour === "stuck" || mode === "timeout") {
        // A hung agent: alive (signals reach it), writing nothing more.
        if (behaviour === "stuck" && role !== "implementer") {
          await step();
          emit("role_end", { iteration, role, data: { log_file: logFile(iteration, role) } });
          continue;
        }
        setInterval(() => {}, 1 << 30);
        return;
      }
      await step();
      emit("role_end", { iteration, role, data: { log_file: logFile(iteration, role) } });
    }
    const matched = cfg.mock ? cfg.mock.reviewer === "success" : behaviour === "pass" && iteration >= cfg.passOnIteration;
    const promise = { expected: PROMISE, text: matched ? PROMISE : "", matched };
    emit("promise_checked", { iteration, data: promise });
    for (const gate of ["checklist", "tests", "validation", "prerequisites", "evidence", "lifecycle"]) {
      emit(`${gate}_start`, { iteration, data: {} });
      emit(`${gate}_end`, { iteration, data: { status: GATES[gate] } });
    }
    if (cfg.stuckThreshold > 0 && !matched) {
      stuckStreak += 1;
      const triggered = stuckStreak >= cfg.stuckThreshold;
      emit("stuck_checked", { iteration, data: { streak: stuckStreak, threshold: cfg.stuckThreshold, triggered, action: "report_and_stop" } });
      writeJson(stuckFile, { code_signature: "sim", test_signature: "sim", streak: stuckStreak, threshold: cfg.stuckThreshold, reason: "", updated_at: now() });
      if (triggered) {
        emit("loop_stop", { iteration, data: { reason: "stuck", streak: stuckStreak, threshold: cfg.stuckThreshold } });
        setState({ active: false, loop_index: 0, iteration, current_loop_id: loop });
        process.stdout.write(`Stuck detection triggered for loop '${loop}'. Stopping.\n`);
        finish(1);
      }
    }
    const approvalGate = askApproval && matched ? "pending" : "skipped";
    emit("gates_evaluated", { iteration, data: { promise: matched, ...GATES, approval: approvalGate, stuck: "n/a" } });
    const endedAt = now();
    const completion = matched && !askApproval;
    emit("iteration_end", { iteration, data: { started_at: startedAt, ended_at: endedAt, completion, promise: matched, ...GATES, approval: approvalGate } });

    const summary = readJson(p.summary) ?? { version: 1, loop_id: loop, updated_at: now(), entries: [] };
    summary.entries.push({
      run_id: runId,
      iteration,
      started_at: startedAt,
      ended_at: endedAt,
      promise,
      gates: { ...GATES, approval: approvalGate },
      tests_mode: "disabled",
      stuck: { streak: stuckStreak, threshold: cfg.stuckThreshold || 2 },
      completion_ok: completion,
      artifacts: {},
    });
    summary.updated_at = now();
    writeJson(p.summary, summary);

    if (matched && askApproval) {
      await step();
      writeJson(p.approval, {
        status: "pending",
        loop_id: loop,
        run_id: runId,
        iteration,
        requested_at: now(),
        iteration_started_at: startedAt,
        iteration_ended_at: endedAt,
        candidate: { promise: { expected: PROMISE, text: PROMISE, matched: true }, gates: GATES },
        files: { gate_summary: p.rel("gate-summary.txt"), reviewer_report: p.rel("review.md") },
      });
      emit("approval_requested", { iteration, data: { approval_file: p.rel("approval.json"), promise: true, ...GATES } });
      setState({ active: false, loop_index: 0, iteration, current_loop_id: loop });
      process.stdout.write(`Approval required for loop '${loop}'. Run: superloop.sh approve --repo ${repo} --loop ${loop}\n`);
      finish(0);
    }
    if (matched) {
      emit("loop_complete", { iteration, data: { iteration, run_id: runId } });
      setState({ active: false, loop_index: 0, iteration, current_loop_id: loop });
      process.stdout.write(`Loop '${loop}' complete at iteration ${iteration}.\n`);
      finish(0);
    }
  }
  const stopIteration = cfg.maxIterations + 1;
  emit("loop_stop", { iteration: stopIteration, data: { reason: "max_iterations", max_iterations: cfg.maxIterations } });
  setState({ active: false, loop_index: 0, iteration: stopIteration, current_loop_id: loop });
  process.stdout.write(`Max iterations reached for loop '${loop}' (${cfg.maxIterations}). Stopping.\n`);
  // the real runtime exits 1 here
  finish(1);
}

// --------------------------------------------------------------------------------------------- cancel

/** The real cancel only signals a pid whose command line reads like a superloop `run` (pids are reused). */
function isRunCommand(pid) {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return argv.includes("run") && argv.some((a) => a.includes("superloop"));
  } catch {
    return false;
  }
}

async function cancel(opts) {
  if (!opts.repo) fail("cancel needs --repo", 2);
  const p = paths(path.resolve(opts.repo));
  // Like the real CLI (docs/runtime.md): state.json goes first; the run is signalled only when active-run.json names a
  // live `run`; no event is written; exit 0 whatever happened.
  const hadState = existsSync(p.state);
  rmSync(p.state, { force: true });
  const hadActiveRun = existsSync(p.activeRun);
  let stopped = false;
  let forced = false;
  if (hadActiveRun) {
    const active = readJson(p.activeRun);
    const pid = typeof active?.pid === "number" ? active.pid : null;
    const pgid = typeof active?.pgid === "number" ? active.pgid : null;
    if (pid !== null && isAlive(pid) && isRunCommand(pid)) {
      const group = pgid !== null && pgid > 1 && pgid === pid;
      const signal = (sig) => {
        try {
          process.kill(group ? -pgid : pid, sig);
        } catch {
          // already gone
        }
      };
      signal("SIGTERM");
      // a SIGSTOPped group would hold the TERM pending forever
      signal("SIGCONT");
      const deadline = Date.now() + 10_000;
      while (isAlive(pid) && Date.now() < deadline) await sleep(50);
      if (isAlive(pid)) {
        signal("SIGKILL");
        forced = true;
        await sleep(200);
      }
      stopped = !isAlive(pid);
    }
    rmSync(p.activeRun, { force: true });
    if (active?.loop_id) process.stdout.write(`Cancelled loop: ${active.loop_id}\n`);
  }
  if (!hadState && !hadActiveRun && !stopped) {
    process.stdout.write("No active state file found.\n");
    return;
  }
  if (stopped) process.stdout.write(forced ? "Cancelled loop state and force-stopped active run process.\n" : "Cancelled loop state and stopped active run process.\n");
  else process.stdout.write("Cancelled loop state.\n");
}

// -------------------------------------------------------------------------------------------- approve

function approve(opts) {
  if (!opts.repo || !opts.loop || !opts.by) fail("approve needs --repo, --loop and --by", 2);
  const p = paths(path.resolve(opts.repo), opts.loop);
  const approval = readJson(p.approval);
  if (!approval) {
    process.stderr.write(`error: no approval request found for loop '${opts.loop}'\n`);
    process.exit(1);
  }
  const status = opts.reject ? "rejected" : "approved";
  const at = now();
  const decision = { status, by: opts.by, note: opts.note ?? "", at };
  writeJson(p.approval, { ...approval, status, decision, decided_at: at, decided_by: opts.by, decided_note: opts.note ?? "" });
  appendEvent(p.events, { timestamp: at, event: "approval_decision", loop_id: opts.loop, run_id: approval.run_id, iteration: approval.iteration, role: "human", status, data: decision });
  process.stdout.write(`Recorded approval decision (${status}) for loop '${opts.loop}'.\n`);
}

// --------------------------------------------------------------------------------------------- status

function status(opts) {
  if (!opts.repo) fail("status needs --repo", 2);
  const p = paths(path.resolve(opts.repo));
  const state = readJson(p.state);
  const active = readJson(p.activeRun);
  const alive = active && typeof active.pid === "number" && isAlive(active.pid);
  process.stdout.write(
    [
      `state: ${state ? `active=${state.active} loop=${state.current_loop_id || "-"} iteration=${state.iteration}` : "none"}`,
      `active run: ${active ? `pid ${active.pid} (${alive ? "alive" : "dead"}) loop ${active.loop_id} iteration ${active.iteration} stage ${active.stage}` : "none"}`,
      `state file: ${existsSync(p.state) ? "present" : "missing"}`,
    ].join("\n") + "\n",
  );
}

if (process.env.SIM_ARGV_LOG) appendFileSync(process.env.SIM_ARGV_LOG, `${JSON.stringify(process.argv.slice(2))}\n`);
const opts = parseArgs(process.argv.slice(2));
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
    process.stdout.write("usage: superloop-sim run|cancel|approve|status --repo R [--loop ID] [--by NAME] [--note T] [--reject]\n");
    process.exit(opts.command === undefined || opts.command === "--help" ? 0 : 2);
}
