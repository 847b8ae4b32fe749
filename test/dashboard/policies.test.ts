import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { register, waitFor } from "../support/runs";
import { emptyRepo, killSims, runState, startControlServer, startSim, TOKENS } from "../control/helpers";
import { policyIntents, setPolicy, STALE_RULE } from "../policy/helpers";

// The Policies page in a real browser (Debian's chromium, playwright-core) against a real manager: an advisory
// stale-running rule's candidate shows with its reason, an operator executes it from the page (confirming), the
// recent actions show the CANCEL reaching CONFIRMED, and the kill switch flips from the page.

const CHROMIUM = "/usr/bin/chromium";
const skip = !existsSync(CHROMIUM) && !process.env.CI;
const ARTIFACTS = path.resolve(import.meta.dirname, "../artifacts");

describe.skipIf(skip)("Policies page in a browser", () => {
  let server: RunningServer;
  let base: string;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    process.env["SIM_STEP_MS"] = "30";
    server = await startControlServer({ OPS_POLICY_TICK_MS: "200" });
    base = server.url.replace(/\/graphql$/, "/");
    context = await chromium.launchPersistentContext(mkdtempSync(path.join(tmpdir(), "ops-chromium-")), {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
      viewport: { width: 1280, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (e) => pageErrors.push(e.message));
    page.setDefaultTimeout(20_000);
  }, 90_000);

  afterAll(async () => {
    await context?.close();
    await server?.close();
    killSims();
  });

  it("shows the rules and a candidate with its reasons; execute and the kill switch work from the page", async () => {
    await setPolicy(server, { mode: "advisory", rules: [{ ...STALE_RULE, mode: "advisory" }] }, { rationale: "trial of the stale rule" });
    const repo = emptyRepo();
    startSim(repo, { SIM_OUTCOME: "hang" });
    const run = await register(server, "page-hung", repo, "demo-loop", TOKENS.admin);
    await waitFor(
      () => runState(server, run.id),
      (r) => r.state === "RUNNING",
      15_000,
      "RUNNING",
    );

    await page.goto(base);
    await page.evaluate((t) => localStorage.setItem("superloop-ops.token", t), TOKENS.admin);
    await page.goto(`${base}#/policies`);
    await page.reload();
    await page.locator('table.rules tr[data-rule="stale-cancel"]').waitFor();
    expect(await page.locator(".policy").textContent()).toContain("trial of the stale rule");
    // the candidate arrives live, with why it is not executed automatically
    const row = page.locator('table.candidates-table tr[data-rule="stale-cancel"][data-status="open"]');
    await row.waitFor({ timeout: 30_000 });
    expect(await row.locator('li[data-code="mode_advisory"]').count()).toBe(1);
    expect(await page.locator('a[aria-current="page"]').textContent()).toBe("Policies");
    await page.screenshot({ path: path.join(ARTIFACTS, "policies.png"), fullPage: true });

    await row.locator('button[data-action="execute"]').click();
    await page.locator('dialog.confirm button[data-confirm="yes"]').click();
    await expect.poll(() => page.locator(".policies-view .action-status").textContent(), { timeout: 30_000 }).toContain("Execute CANCEL: done");
    await page.locator('table.actions-table tr[data-rule="stale-cancel"] .badge[data-value="CONFIRMED"]').waitFor({ timeout: 30_000 });
    const intents = await policyIntents(server, run.raw);
    expect(intents.map((i) => [i.kind, i.requestedBy])).toEqual([["CANCEL", "policy:stale-cancel"]]);

    await page.locator('button[data-action="kill-switch"]').click();
    await page.locator('dialog.confirm button[data-confirm="yes"]').click();
    await page.locator('p[data-kill-switch="true"]').waitFor();
    expect(await page.locator('p[data-kill-switch="true"]').textContent()).toContain("by root");
    expect(pageErrors).toEqual([]);
  }, 120_000);
});
