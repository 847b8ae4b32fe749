#!/usr/bin/env node
// superloop-sim: a stand-in for `superloop.sh` that the demo fleet (and the manager's control intents, through
// SUPERLOOP_BIN) runs instead of real AI agents. It writes the same artifacts, in the same formats and with
// the same quirks, as the recordings in the shared fixtures (cancel writes no event, approve does not complete,
// completion after approval needs another `run`, a crashed runner leaves state.active=true without active-run).
//
//   superloop-sim run     --repo R [--loop ID]
//   superloop-sim cancel  --repo R
//   superloop-sim approve --repo R --loop ID --by NAME [--note T] [--reject]
//   superloop-sim status  --repo R
//
// What a `run` does is scripted per loop in `.superloop/config.json` under `simulator` (ignored by the real
// runtime): `invocations` lists the outcome of the 1st, 2nd, ... `run` of that loop ("pass", "maxiter",
// "crash", "stuck"); later runs "pass". Counting the loop_start lines in events.jsonl keeps that script in the
// artifacts themselves, so a restarted manager or a second demo process sees the same behaviour.
// Plain JavaScript without dependencies: the manager spawns it directly as an executable.

import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";

const ROLES = ["planner", "implementer", "tester", "reviewer"];
const PROMISE = "SUPERLOOP_COMPLETE";

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

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return null;
  }
}

// Readers must never see half a JSON file: write aside, then rename over.
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

/** Our process group, as `ps -o pgid` would say: field 5 of /proc/self/stat. */
function ownPgid() {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const pgid = Number(fields[2]);
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

function loadLoopConfig(repo, loopId) {
  const config = readJson(paths(repo).config);
  const loops = Array.isArray(config?.loops) ? config.loops : [];
  const loop = loopId === undefined ? loops[0] : loops.find((l) => l && l.id === loopId);
  if (!loop) fail(loopId === undefined ? `no loops in ${paths(repo).config}` : `loop ${loopId} not found in ${paths(repo).config}`);
  const sim = loop.simulator ?? {};
  return {
    id: loop.id,
    maxIterations: Number(loop.max_iterations ?? 3),
    approval: loop.approval?.enabled === true,
    stepMs: Number(sim.step_ms ?? 1000),
    passOnIteration: Number(sim.pass_on_iteration ?? 1),
    invocations: Array.isArray(sim.invocations) ? sim.invocations : [],
  };
}

function countLoopStarts(file) {
  if (!existsSync(file)) return 0;
  return readFileSync(file, "utf8").split("\n").filter((l) => l.includes('"event":"loop_start"')).length;
}

// ------------------------------------------------------------------------------------------------ run

async function run(opts) {
  if (!opts.repo) fail("run needs --repo", 2);
  const repo = path.resolve(opts.repo);
  const cfg = loadLoopConfig(repo, opts.loop);
  const p = paths(repo, cfg.id);

  const active = readJson(p.activeRun);
  if (active && typeof active.pid === "number" && isAlive(active.pid)) fail(`another run is active (pid ${active.pid}, loop ${active.loop_id})`);
  const pendingApproval = readJson(p.approval);
  if (pendingApproval?.status === "pending") fail(`loop ${cfg.id} is waiting for approval: approve or reject it first`);

  const behaviour = cfg.invocations[countLoopStarts(p.events)] ?? "pass";
  const runId = now();
  const pgid = ownPgid();
  mkdirSync(p.loopDir, { recursive: true });

  const emit = (event, fields = {}) => {
    const line = { timestamp: now(), event, loop_id: cfg.id, run_id: fields.run_id ?? runId, iteration: fields.iteration ?? 1 };
    if (fields.role) line.role = fields.role;
    if (fields.status) line.status = fields.status;
    line.data = fields.data ?? {};
    // One write per line, so a reader sees whole lines (or, at worst, a half line it must wait for).
    appendFileSync(p.events, `${JSON.stringify(line)}\n`);
  };
  const setActiveRun = (iteration, stage) =>
    writeJson(p.activeRun, { repo, pid: process.pid, pgid, loop_id: cfg.id, iteration, stage, updated_at: now() });
  const setState = (state) => writeJson(p.state, { ...state, updated_at: now() });
  const finish = (code) => {
    rmSync(p.activeRun, { force: true });
    process.exit(code);
  };

  setActiveRun(1, "starting");
  emit("loop_start", {
    data: {
      spec_file: ".superloop/specs/demo.md",
      max_iterations: cfg.maxIterations,
      tests_mode: "disabled",
      test_commands: [],
      checklists: [],
      simulator: { behaviour },
    },
  });

  const decided = readJson(p.approval);
  if (decided?.status === "approved") {
    // Completion after an approval: consume it under the ORIGINAL run id, as the real runtime does.
    const decision = decided.decision ?? { status: "approved" };
    emit("approval_consumed", { run_id: decided.run_id, iteration: decided.iteration, data: decision });
    await sleep(Math.min(cfg.stepMs, 500));
    const summary = readJson(p.summary) ?? { version: 1, loop_id: cfg.id, entries: [] };
    const last = summary.entries[summary.entries.length - 1] ?? {};
    summary.entries.push({ ...last, gates: { ...(last.gates ?? {}), approval: "approved" }, completion_ok: true });
    summary.updated_at = now();
    writeJson(p.summary, summary);
    emit("loop_complete", { run_id: decided.run_id, iteration: decided.iteration, data: { iteration: decided.iteration, run_id: decided.run_id, approval: true } });
    rmSync(p.approval, { force: true });
    setState({ active: false, loop_index: 1, iteration: 0, current_loop_id: "" });
    finish(0);
  }
  if (decided?.status === "rejected") {
    emit("approval_rejected", { data: { status: "rejected", approval_file: p.rel("approval.json") } });
    rmSync(p.approval, { force: true });
  }

  for (let iteration = 1; iteration <= cfg.maxIterations; iteration++) {
    const startedAt = now();
    setState({ active: true, loop_index: 0, iteration, current_loop_id: cfg.id });
    emit("iteration_start", { iteration, data: { started_at: startedAt } });
    for (const role of ROLES) {
      setActiveRun(iteration, role);
      emit("role_start", { iteration, role, data: { log_file: `${repo}/${p.rel(`logs/iter-${iteration}/${role}.log`)}` } });
      if (behaviour === "crash" && role === "planner") {
        // The runner exited non-zero: the runtime dies here, its exit trap removes active-run.json, and
        // state.json keeps saying active (the blind spot the manager must see through).
        process.stderr.write("planner runner exited with code 1\n");
        finish(1);
      }
      if (behaviour === "stuck" && role === "implementer") {
        // A hung agent: the process stays alive (pause/cancel still reach it) but nothing is written again.
        setInterval(() => {}, 1 << 30);
        return;
      }
      await sleep(cfg.stepMs);
      emit("role_end", { iteration, role, data: { log_file: `${repo}/${p.rel(`logs/iter-${iteration}/${role}.log`)}` } });
    }
    const matched = behaviour === "pass" && iteration >= cfg.passOnIteration;
    emit("promise_checked", { iteration, data: { expected: PROMISE, text: matched ? PROMISE : "", matched } });
    for (const gate of ["checklist", "tests", "validation", "prerequisites", "evidence", "lifecycle"]) {
      emit(`${gate}_start`, { iteration, data: {} });
      emit(`${gate}_end`, { iteration, data: { status: gate === "checklist" || gate === "lifecycle" ? "ok" : "skipped" } });
    }
    const gates = { tests: "skipped", validation: "skipped", prerequisites: "skipped", checklist: "ok", evidence: "skipped", lifecycle: "ok" };
    const approvalGate = cfg.approval && matched ? "pending" : "skipped";
    emit("gates_evaluated", { iteration, data: { promise: matched, ...gates, approval: approvalGate, stuck: "n/a" } });
    const completion = matched && !cfg.approval;
    const endedAt = now();
    emit("iteration_end", { iteration, data: { started_at: startedAt, ended_at: endedAt, completion, promise: matched, ...gates, approval: approvalGate } });

    const summary = readJson(p.summary) ?? { version: 1, loop_id: cfg.id, entries: [] };
    summary.entries.push({
      run_id: runId,
      iteration,
      started_at: startedAt,
      ended_at: endedAt,
      promise: { expected: PROMISE, text: matched ? PROMISE : "", matched },
      gates: { ...gates, approval: approvalGate },
      tests_mode: "disabled",
      stuck: { streak: 0, threshold: 2 },
      completion_ok: completion,
      artifacts: {},
    });
    summary.updated_at = now();
    writeJson(p.summary, summary);

    if (matched && cfg.approval) {
      writeJson(p.approval, {
        status: "pending",
        loop_id: cfg.id,
        run_id: runId,
        iteration,
        requested_at: now(),
        iteration_started_at: startedAt,
        iteration_ended_at: endedAt,
        candidate: { promise: { expected: PROMISE, text: PROMISE, matched: true }, gates },
        files: { gate_summary: p.rel("gate-summary.txt"), reviewer_report: p.rel("review.md") },
      });
      emit("approval_requested", { iteration, data: { approval_file: p.rel("approval.json"), promise: true, ...gates } });
      setState({ active: false, loop_index: 0, iteration, current_loop_id: cfg.id });
      finish(0);
    }
    if (matched) {
      emit("loop_complete", { iteration, data: { iteration, run_id: runId } });
      setState({ active: false, loop_index: 1, iteration: 0, current_loop_id: "" });
      finish(0);
    }
  }
  const stopIteration = cfg.maxIterations + 1;
  emit("loop_stop", { iteration: stopIteration, data: { reason: "max_iterations", max_iterations: cfg.maxIterations } });
  setState({ active: false, loop_index: 0, iteration: stopIteration, current_loop_id: cfg.id });
  finish(0);
}

// --------------------------------------------------------------------------------------------- cancel

async function cancel(opts) {
  if (!opts.repo) fail("cancel needs --repo", 2);
  const p = paths(path.resolve(opts.repo));
  const active = readJson(p.activeRun);
  const pid = typeof active?.pid === "number" ? active.pid : null;
  const pgid = typeof active?.pgid === "number" ? active.pgid : pid;
  if (pid !== null && isAlive(pid)) {
    const signal = (sig) => {
      try {
        process.kill(-pgid, sig);
      } catch {
        try {
          process.kill(pid, sig);
        } catch {
          /* already gone */
        }
      }
    };
    signal("SIGTERM");
    // A paused (SIGSTOPped) group would keep the TERM pending forever.
    signal("SIGCONT");
    const deadline = Date.now() + 10_000;
    while (isAlive(pid) && Date.now() < deadline) await sleep(100);
    if (isAlive(pid)) signal("SIGKILL");
    process.stdout.write(`cancelled run pid ${pid}\n`);
  } else {
    process.stdout.write("no active run\n");
  }
  // Like the real CLI: the files go, and no event is written.
  rmSync(p.state, { force: true });
  rmSync(p.activeRun, { force: true });
}

// -------------------------------------------------------------------------------------------- approve

function approve(opts) {
  if (!opts.repo || !opts.loop || !opts.by) fail("approve needs --repo, --loop and --by", 2);
  const p = paths(path.resolve(opts.repo), opts.loop);
  const approval = readJson(p.approval);
  if (!approval || approval.status !== "pending") fail(`no pending approval for loop ${opts.loop}`);
  const status = opts.reject ? "rejected" : "approved";
  const at = now();
  const decision = { status, by: opts.by, note: opts.note ?? "", at };
  writeJson(p.approval, { ...approval, status, decision, decided_at: at, decided_by: opts.by, decided_note: opts.note ?? "" });
  const line = { timestamp: at, event: "approval_decision", loop_id: opts.loop, run_id: approval.run_id, iteration: approval.iteration, role: "human", status, data: decision };
  appendFileSync(p.events, `${JSON.stringify(line)}\n`);
  process.stdout.write(`${status} loop ${opts.loop}\n`);
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
    ].join("\n") + "\n",
  );
}

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
