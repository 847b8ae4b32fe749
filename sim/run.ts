import { rmSync } from "node:fs";
import path from "node:path";
import { isRunSummary, type RunSummaryFile, type SummaryEntry } from "./artifacts";
import { appendEvent, countLoopStarts, fail, GATES, now, ownPgid, paths, PROMISE, readJson, refuse, show, ROLES, sleep, writeJson, type Role } from "./files";
import { loadScript } from "./script";

// `superloop-sim run`: one run of a loop, event by event, with the real runtime's refusals and quirks (the header
// of cli.ts lists them).

export interface RunOptions {
  repo?: string;
  loop?: string;
}

interface EmitFields {
  run_id?: unknown;
  iteration?: unknown;
  role?: Role;
  status?: string;
  data?: unknown;
}

const emptySummary = (loop: string): RunSummaryFile => ({ version: 1, loop_id: loop, updated_at: now(), entries: [] });

export async function run(opts: RunOptions): Promise<void> {
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
    refuse([`Error: Loop has reached stuck threshold (${show(stuck.streak)}/${show(stuck.threshold)} iterations)`, "", `  1. Review the stuck state: cat ${stuckFile}`]);
  }

  const decided = readJson(p.approval);
  // env scripting: every run has the same outcome; config scripting: the n-th run of the loop, then "pass"
  let behaviour = cfg.scripted ? (cfg.invocations[countLoopStarts(p.events)] ?? "pass") : cfg.invocations[0];
  const runId = now();
  const pgid = ownPgid();

  const emit = (event: string, fields: EmitFields = {}) => {
    // Field order as in the recordings: timestamp, event, loop_id, run_id, iteration, role?, status?, data.
    const line: Record<string, unknown> = { timestamp: now(), event, loop_id: loop, run_id: fields.run_id ?? runId, iteration: fields.iteration ?? 1 };
    if (fields.role) line.role = fields.role;
    if (fields.status) line.status = fields.status;
    line.data = fields.data ?? {};
    appendEvent(p.events, line);
  };
  // active-run.json: stage is only ever run_start or loop_start, iteration is not updated per iteration.
  const setActiveRun = (stage: string) => writeJson(p.activeRun, { repo, pid: process.pid, pgid, loop_id: loop, iteration: 1, stage, updated_at: now() });
  const setState = (next: { active: boolean; loop_index: number; iteration: unknown; current_loop_id: string }) => writeJson(stateFile, { ...next, updated_at: now() });
  const finish = (code: number): never => {
    rmSync(p.activeRun, { force: true });
    process.exit(code);
  };
  const step = () => sleep(cfg.stepMs);
  const logFile = (iteration: number, role: Role) => `${repo}/${p.rel(`logs/iter-${iteration}/${role}.log`)}`;
  const readSummary = () => readJson(p.summary, isRunSummary) ?? emptySummary(loop);

  setActiveRun("run_start");
  setActiveRun("loop_start");
  const startData: Record<string, unknown> = {
    spec_file: `.superloop/specs/${cfg.scripted ? "demo" : "test"}.md`,
    max_iterations: cfg.maxIterations,
    tests_mode: "disabled",
    test_commands: [],
    checklists: [],
  };
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
    const summary = readSummary();
    const last: SummaryEntry = summary.entries[summary.entries.length - 1] ?? { run_id: decided.run_id, iteration: decided.iteration };
    summary.entries.push({ ...last, gates: { ...(last.gates ?? GATES), approval: "approved" }, completion_ok: true });
    summary.updated_at = now();
    writeJson(p.summary, summary);
    emit("loop_complete", { run_id: decided.run_id, iteration: decided.iteration, data: { iteration: decided.iteration, run_id: decided.run_id, approval: true } });
    rmSync(p.approval, { force: true });
    setState({ active: false, loop_index: 0, iteration: decided.iteration ?? 1, current_loop_id: loop });
    process.stdout.write(`Loop '${loop}' complete at iteration ${show(decided.iteration ?? 1)} (approved).\n`);
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
    for (const gate of ["checklist", "tests", "validation", "prerequisites", "evidence", "lifecycle"] as const) {
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

    const summary = readSummary();
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
