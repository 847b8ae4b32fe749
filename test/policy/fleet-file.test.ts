import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { gql } from "../support/clients";
import { createTestDatabase } from "../support/db";
import { spawnManager, type ManagerProcess } from "../support/manager-process";
import { waitFor } from "../support/runs";

// Policies in the fleet file of a real manager process: loaded at start-up, reloaded on SIGHUP (an unchanged
// policy adds no version, a changed one is a new audited version, an invalid one changes nothing), and the
// OPS_POLICY_KILL_SWITCH environment switch.

const procs: ManagerProcess[] = [];
afterAll(async () => {
  for (const p of procs) {
    p.child.kill("SIGTERM");
    await p.exited;
  }
});

const RULE = { id: "stale-cancel", condition: { type: "stale_running", forMs: 600_000 }, action: "CANCEL" };
const policies = (rules: unknown[], rationale: string) => ({ rationale, reviewBy: "2030-01-01T00:00:00Z", policy: { mode: "advisory", rules } });

describe("policies in the fleet file", () => {
  it("load at start-up and on SIGHUP, versioned and audited; the env kill switch holds", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ops-policy-fleet-"));
    const file = path.join(dir, "fleet.json");
    writeFileSync(file, JSON.stringify({ sprites: [], policies: policies([RULE], "first rules") }));
    const m = await spawnManager({ DATABASE_URL: await createTestDatabase(), OPS_DATA_DIR: dir, OPS_FLEET_FILE: file, OPS_POLICY_KILL_SWITCH: "1" });
    procs.push(m);
    const policy = async () => (await gql(m.url, `{ policy { version source actor rationale reviewBy rules { id action } } policyRuntime { killSwitch killSwitchSource envKillSwitch } }`)).data!;
    const first = await policy();
    expect(first.policy).toMatchObject({ version: 1, source: "fleet-file", rationale: "first rules", rules: [{ id: "stale-cancel", action: "CANCEL" }] });
    expect(first.policyRuntime).toEqual({ killSwitch: true, killSwitchSource: "OPS_POLICY_KILL_SWITCH", envKillSwitch: true });

    // the same file again: nothing new
    m.child.kill("SIGHUP");
    await new Promise((r) => setTimeout(r, 500));
    expect((await policy()).policy.version).toBe(1);

    // a changed policy: version 2, audited with before and after
    writeFileSync(
      file,
      JSON.stringify({ sprites: [], policies: policies([RULE, { id: "failed-alert", condition: { type: "state", states: ["FAILED"] }, action: "ALERT" }], "alert on failures too") }),
    );
    m.child.kill("SIGHUP");
    const second = await waitFor(policy, (p) => p.policy.version === 2, 10_000, "version 2");
    expect(second.policy.rules.map((r: { id: string }) => r.id)).toEqual(["stale-cancel", "failed-alert"]);
    const audit = (await gql(m.url, `{ policyAudit { action actor version rationale before after } }`)).data!.policyAudit;
    expect(audit[0]).toMatchObject({ action: "policy_changed", actor: "fleet-file", version: 2, rationale: "alert on failures too" });
    expect(audit[0].before.rules).toHaveLength(1);
    expect(audit[0].after.rules).toHaveLength(2);

    // an invalid policy changes nothing and the manager keeps running
    writeFileSync(file, JSON.stringify({ sprites: [], policies: policies([{ ...RULE, action: "APPROVE" }], "approve everything") }));
    m.child.kill("SIGHUP");
    await new Promise((r) => setTimeout(r, 500));
    expect((await policy()).policy.version).toBe(2);
    expect(m.child.exitCode).toBeNull();
  });
});
