import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { waitFor } from "../support/runs";
import { SIM, TOKENS } from "../control/helpers";

export const CANDIDATE = `id rule runId condition detail episodeKey since action severity status eligible reasons { code message }
  executedBy executedAuto executedAt suppressedBy suppressedNote intent { id kind stage requestedBy note }`;

export const STALE_RULE = { id: "stale-cancel", condition: { type: "stale_running", forMs: 1000 }, action: "CANCEL", severity: "warning" };

export async function setPolicy(server: RunningServer, policy: Record<string, unknown>, opts: { rationale?: string; reviewBy?: string; token?: string } = {}) {
  const r = await gql(
    server.url,
    `mutation($i: SetPolicyInput!) { setPolicy(input: $i) { __typename ... on Policy { version mode effectiveMode reviewExpired } ... on Error { message } } }`,
    { i: { policy, rationale: opts.rationale ?? "test policy", reviewBy: opts.reviewBy ?? new Date(Date.now() + 86_400_000).toISOString() } },
    opts.token ?? TOKENS.admin,
  );
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return r.data!.setPolicy;
}

export type Candidate = {
  id: string;
  rule: string;
  runId: string;
  episodeKey: string;
  action: string;
  status: string;
  eligible: boolean;
  reasons: { code: string; message: string }[];
  executedBy: string | null;
  executedAuto: boolean;
  intent: { id: string; kind: string; stage: string; requestedBy: string; note: string | null } | null;
};

export async function candidates(server: RunningServer, runId: string, status: string[] = ["open", "suppressed", "executing", "executed", "ended"]): Promise<Candidate[]> {
  const r = await gql(server.url, `query($r: ID, $s: [String!]) { policyCandidates(runId: $r, status: $s) { ${CANDIDATE} } }`, { r: runId, s: status }, TOKENS.viewer);
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return r.data!.policyCandidates as Candidate[];
}

export function waitCandidate(server: RunningServer, runId: string, pred: (c: Candidate[]) => boolean, what: string, timeoutMs = 20_000) {
  return waitFor(() => candidates(server, runId), pred, timeoutMs, what);
}

/** Control intents a policy requested on a run (requestedBy policy:<rule>). */
export async function policyIntents(server: RunningServer, rawRunId: string) {
  return server.app.db.controlIntent.findMany({ where: { runId: rawRunId, requestedBy: { startsWith: "policy:" } }, orderBy: { requestedAt: "asc" } });
}

/** Lets the engine evaluate `n` more times (its ticks are short in tests). */
export async function ticks(server: RunningServer, n = 3): Promise<void> {
  for (let i = 0; i < n; i++) await server.app.policy.tick();
}

/**
 * A SUPERLOOP_BIN whose `cancel` says it worked and does nothing (the run stays alive), so a CANCEL is ACCEPTED
 * and never CONFIRMED: AMBIGUOUS at its deadline. Everything else is the simulator.
 */
export function cancelThatDoesNothing(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "ops-policy-bin-"));
  const bin = path.join(dir, "superloop-noop-cancel");
  writeFileSync(bin, `#!/bin/sh\nif [ "$1" = "cancel" ]; then echo "Cancelled."; exit 0; fi\nexec "${SIM}" "$@"\n`);
  chmodSync(bin, 0o755);
  return bin;
}
