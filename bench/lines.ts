// Realistic Superloop event lines for the benches, in a module of their own: a worker thread (bench/live-writer.ts)
// imports it without loading the manager.

/** A realistic Superloop event line (shapes from the recordings). */
export function realisticLine(i: number, runId: string): string {
  const roles = ["planner", "implementer", "tester", "reviewer"];
  const names = ["role_start", "role_end", "tests_start", "tests_end", "gates_evaluated", "iteration_start", "iteration_end", "promise_checked"];
  const name = i === 1 ? "loop_start" : names[i % names.length];
  const iteration = 1 + Math.floor(i / 40);
  const role = name.startsWith("role_") ? roles[Math.floor(i / 2) % 4] : undefined;
  const data =
    name === "role_start"
      ? { prompt_file: `/home/sprite/repo/.superloop/loops/demo-loop/prompts/${role}.md`, log_file: `/home/sprite/repo/.superloop/loops/demo-loop/logs/iter-${iteration}/${role}.log` }
      : name === "gates_evaluated"
        ? { promise: true, tests: "ok", checklist: "ok", evidence: "skipped", approval: "none" }
        : { duration_ms: 1000 + (i % 977) };
  return JSON.stringify({
    timestamp: new Date(Date.UTC(2026, 10, 24) + i * 250).toISOString().replace(".000", ""),
    event: name,
    loop_id: "demo-loop",
    run_id: runId,
    iteration,
    ...(role ? { role } : {}),
    data,
  });
}
