import { appendFileSync, existsSync, rmSync } from "node:fs";
import path from "node:path";
import { appendEvent, fail, isAlive, isRunCommand, now, paths, readJson, show, sleep, writeJson } from "./files";

// `superloop-sim cancel | approve | status`: what the real CLI's commands of those names do to the artifacts and
// print (docs/runtime.md).

export interface CommandOptions {
  repo?: string;
  loop?: string;
  by?: string;
  note?: string;
  reject: boolean;
}

export async function cancel(opts: CommandOptions): Promise<void> {
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
      const signal = (sig: NodeJS.Signals) => {
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
    if (active?.loop_id) process.stdout.write(`Cancelled loop: ${show(active.loop_id)}\n`);
  }
  if (!hadState && !hadActiveRun && !stopped) {
    process.stdout.write("No active state file found.\n");
    return;
  }
  if (stopped) process.stdout.write(forced ? "Cancelled loop state and force-stopped active run process.\n" : "Cancelled loop state and stopped active run process.\n");
  else process.stdout.write("Cancelled loop state.\n");
}

export function approve(opts: CommandOptions): void {
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

export function status(opts: CommandOptions): void {
  if (!opts.repo) fail("status needs --repo", 2);
  const p = paths(path.resolve(opts.repo));
  const state = readJson(p.state);
  const active = readJson(p.activeRun);
  const alive = active && typeof active.pid === "number" && isAlive(active.pid);
  process.stdout.write(
    [
      `state: ${state ? `active=${show(state.active)} loop=${show(state.current_loop_id || "-")} iteration=${show(state.iteration)}` : "none"}`,
      `active run: ${active ? `pid ${show(active.pid)} (${alive ? "alive" : "dead"}) loop ${show(active.loop_id)} iteration ${show(active.iteration)} stage ${show(active.stage)}` : "none"}`,
      `state file: ${existsSync(p.state) ? "present" : "missing"}`,
    ].join("\n") + "\n",
  );
}

/** SIM_ARGV_LOG=FILE: each invocation's argv as one JSON line (tests count dispatches with it). */
export function logArgv(argv: string[]): void {
  if (process.env.SIM_ARGV_LOG) appendFileSync(process.env.SIM_ARGV_LOG, `${JSON.stringify(argv)}\n`);
}
