import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { startReceiver, type Receiver } from "../support/alert-receiver";
import { gql } from "../support/clients";
import { register, waitFor } from "../support/runs";
import { emptyRepo, killSims, runState, startControlServer, startSim, TOKENS } from "../control/helpers";
import { cancelThatDoesNothing, policyIntents, setPolicy, STALE_RULE, ticks, waitCandidate } from "./helpers";

// Auto-pause: a SUPERLOOP_BIN whose cancel does nothing makes every automatic CANCEL end AMBIGUOUS at its
// (short) deadline. After three, automation pauses itself and a policy_action alert reaches the webhook sink.

let server: RunningServer;
let rx: Receiver;

beforeAll(async () => {
  process.env["SIM_STEP_MS"] = "30";
  rx = await startReceiver();
  server = await startControlServer({ SUPERLOOP_BIN: cancelThatDoesNothing(), OPS_POLICY_TICK_MS: "200", OPS_INTENT_DEADLINES_MS: "CANCEL=1000" });
});
afterAll(async () => {
  await server?.close();
  await rx?.close();
  killSims();
});

async function admin(query: string, vars: Record<string, unknown> = {}) {
  const r = await gql(server.url, query, vars, TOKENS.admin);
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return r.data!;
}

async function hangingRun(name: string) {
  const repo = emptyRepo();
  startSim(repo, { SIM_OUTCOME: "hang" });
  const run = await register(server, name, repo, "demo-loop", TOKENS.admin);
  await waitFor(
    () => runState(server, run.id),
    (r) => r.state === "RUNNING",
    15_000,
    `${name} RUNNING`,
  );
  return run;
}

describe("auto-pause", () => {
  it("three AMBIGUOUS outcomes pause automation and raise a policy_action alert", async () => {
    await admin(`mutation($s: JSON!) { setAlertSink(name: "hook", sink: $s) { __typename } }`, { s: { type: "webhook", url: `${rx.url}/hook`, timeoutSeconds: 2 } });
    await admin(`mutation($r: JSON!) { setAlertRouting(routing: $r) { __typename } }`, { r: { routes: [{ category: "policy_action", sinks: ["hook"] }] } });
    await setPolicy(server, {
      mode: "guarded_auto",
      allowlist: { actions: ["CANCEL"] },
      limits: { maxPerRun: 1, maxPerSprite: 5, maxTotal: 50, cooldownMs: 0 },
      autoPause: { lastN: 3, maxBadShare: 1 },
      rules: [{ ...STALE_RULE, mode: "guarded_auto" }],
    });
    const runs = await Promise.all(["amb-1", "amb-2", "amb-3"].map(hangingRun));
    for (const run of runs) {
      await waitFor(
        () => policyIntents(server, run.raw),
        (i) => i.length === 1 && i[0].stage === "AMBIGUOUS",
        20_000,
        `${run.raw} AMBIGUOUS`,
      );
    }
    const rt = await waitFor(
      async () => (await admin(`{ policyRuntime { paused pausedBy pausedReason } }`)).policyRuntime,
      (r) => r.paused === "auto",
      10_000,
      "automation paused",
    );
    expect(rt.pausedBy).toBe("policy-engine");
    expect(rt.pausedReason).toContain("3 of the last 3");
    const [alert] = (await rx.waitFor((r) => r.some((x) => x.path === "/hook"), 10_000, "the policy_action alert")).filter((x) => x.path === "/hook");
    expect(alert.json).toMatchObject({ condition: "policy_action", severity: "critical", event: "trigger" });
    expect(alert.json.summary).toContain("paused itself");

    // a fourth stale run is proposed, held back by the pause
    const fourth = await hangingRun("amb-4");
    const cs = await waitCandidate(server, fourth.id, (c) => c.some((x) => x.status === "open"), "the fourth candidate");
    expect(cs[0].reasons.map((r) => r.code)).toContain("paused_auto");
    await ticks(server, 3);
    expect(await policyIntents(server, fourth.raw)).toHaveLength(0);
    // the pause is in the audit; an admin resumes (also audited), and the fourth run is acted on
    const audit = (await admin(`{ policyAudit { action actor } }`)).policyAudit as { action: string; actor: string }[];
    expect(audit).toContainEqual({ action: "paused", actor: "policy-engine" });
    await admin(`mutation { setPolicyAutomationPaused(paused: false, note: "bin fixed") { __typename } }`);
    await waitFor(
      () => policyIntents(server, fourth.raw),
      (i) => i.length === 1,
      10_000,
      "the fourth run's cancel",
    );
    expect(rx.requests.filter((x) => x.path === "/hook")).toHaveLength(1);
  });
});
