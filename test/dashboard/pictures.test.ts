import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO_FLEET } from "../../demo/fleet";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { waitFor } from "../support/runs";
import { demoRuns, startDemoServer } from "../demo/demo-server";

// What the dashboard draws and how its queue closes the loop, in a real browser (Debian's chromium through
// playwright-core) against a real manager running the demo fleet, one browser and one server for the file:
// a crash + restart shows as attempts, a complete run shows its gates and sign-off, a 3-iteration run draws a
// swimlane of 12 role turns, a stuck run's sparkline is flat, cancel asks first, acknowledge removes a queue
// item and records it, a bad run id says "not found", and a 390 px wide page does not scroll sideways.
// UPDATE_DOCS_SCREENSHOT=1 also writes docs/dashboard.png (the README's screenshot).

const CHROMIUM = "/usr/bin/chromium";
const skip = !existsSync(CHROMIUM) && !process.env.CI;
const ARTIFACTS = path.resolve(import.meta.dirname, "../artifacts");
const DOCS = path.resolve(import.meta.dirname, "../../docs");
const TOKEN = "pictures-test-token";

// demo-complete runs three iterations (the swimlane); demo-busy keeps writing for the whole file (sparklines).
const FLEET = DEMO_FLEET.map((s) =>
  s.name === "demo-complete" ? { ...s, passOnIteration: 3, maxIterations: 3 } : s.name === "demo-busy" ? { ...s, stepMs: 3000, passOnIteration: 200, maxIterations: 200 } : s,
);

describe.skipIf(skip)("dashboard pictures and queue", () => {
  let server: RunningServer;
  let base: string;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];
  let runs: Awaited<ReturnType<typeof demoRuns>>;

  const runUrl = (name: string) => `${base}#/run/${encodeURIComponent(runs.get(name)!.id)}`;
  const api = <T = Record<string, any>>(query: string, variables: Record<string, unknown> = {}) => gql<T>(server.url, query, variables, TOKEN);

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    ({ server } = await startDemoServer({ demo: { sprites: FLEET }, env: { OPS_TOKENS: `tester:admin:${TOKEN}` } }));
    base = server.url.replace(/\/graphql$/, "/");
    context = await chromium.launchPersistentContext(mkdtempSync(path.join(tmpdir(), "ops-chromium-")), {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
      viewport: { width: 1280, height: 900 },
      timezoneId: "UTC",
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (e) => pageErrors.push(e.message));
    page.setDefaultTimeout(20_000);
    await page.goto(base);
    await page.evaluate((t) => localStorage.setItem("superloop-ops.token", t), TOKEN);
    await page.reload(); // the page reads the token when it loads; later hash-only navigations keep that page
    runs = await waitFor(
      () => demoRuns(server, TOKEN),
      (m) => m.size === FLEET.length,
      30_000,
      "demo runs",
    );
  }, 90_000);

  afterAll(async () => {
    await context?.close();
    await server?.close();
  });

  it("fleet: sparkline flat for the stuck run and moving for the busy one; marks on a COMPLETE that skipped gates; 24 h timeline", async () => {
    await page.goto(base);
    await page.reload();
    await page.waitForSelector('tr[data-sprite="demo-complete"][data-state="COMPLETE"]', { timeout: 60_000 });
    // demo Sprites exist: the header says DEMO, naming them
    await page.locator("#demo-marker").waitFor({ state: "visible" });
    expect(await page.locator("#demo-marker").getAttribute("title")).toContain("demo-stuck");
    const spark = (name: string) => page.locator(`tr[data-sprite="${name}"] svg.spark`);
    // The stuck agent wrote its first events at start-up, then nothing: once 30 s have passed, its newest buckets are empty.
    await expect
      .poll(
        async () =>
          (await spark("demo-stuck")
            .getAttribute("data-recent")
            .catch(() => null)) ?? "none",
        { timeout: 70_000, interval: 2000 },
      )
      .toBe("0");
    expect(await spark("demo-stuck").getAttribute("class")).toContain("flat");
    expect(await spark("demo-stuck").getAttribute("class")).toContain("silent");
    expect(await spark("demo-stuck").getAttribute("aria-label")).toContain("silent while running");
    expect(Number(await spark("demo-stuck").getAttribute("data-total"))).toBeGreaterThan(0);
    // ... and the drawn line is flat at the baseline there: the last three points share the bottom y.
    const stuckPoints = (await spark("demo-stuck").locator("polyline").getAttribute("points"))!.split(" ").map((p) => Number(p.split(",")[1]));
    expect(new Set(stuckPoints.slice(-3)).size).toBe(1);
    expect(stuckPoints.at(-1)).toBe(Math.max(...stuckPoints));
    expect(Number(await spark("demo-busy").getAttribute("data-recent"))).toBeGreaterThan(0);
    expect(await spark("demo-busy").getAttribute("class")).not.toContain("flat");

    // demo-complete has no approval and skipped gates (tests, validation ...): the row says so.
    const complete = page.locator('tr[data-sprite="demo-complete"]');
    expect(await complete.locator('[data-mark="unverified"]').textContent()).toContain("gates not all green");
    expect(await complete.locator('[data-mark="no-approval"]').textContent()).toContain("no approval");
    expect(await complete.locator(".progress progress").getAttribute("aria-label")).toBe("iteration 3 of 3");

    const timeline = page.locator("svg.fleet-timeline");
    await timeline.waitFor();
    expect(await timeline.locator("rect.tl").count()).toBeGreaterThanOrEqual(FLEET.length);
    expect(await timeline.locator('rect[data-state="COMPLETE"]').count()).toBeGreaterThanOrEqual(1);
    await page.screenshot({ path: path.join(ARTIFACTS, "fleet-pictures.png"), fullPage: true });
    if (process.env.UPDATE_DOCS_SCREENSHOT) await page.screenshot({ path: path.join(DOCS, "dashboard.png"), fullPage: false });
  }, 120_000);

  it("a crash and a restart are two attempts; the COMPLETE says it came after a crash and a restart", async () => {
    await waitFor(
      () => demoRuns(server, TOKEN),
      (m) => m.get("demo-crash")?.state === "FAILED",
      30_000,
      "demo-crash FAILED",
    );
    const id = runs.get("demo-crash")!.id;
    // after a crash the runtime refuses a plain `run` (state.active is still true): RESTART clears it first
    const r = await api(`mutation($id: ID!) { restartRun(runId: $id, note: "try again") { __typename ... on Error { message } } }`, { id });
    expect(r.data?.restartRun.__typename, JSON.stringify(r)).toBe("ControlIntent");
    await page.goto(runUrl("demo-crash"));
    await page
      .locator(".status-line .badge.state-COMPLETE")
      .waitFor({ timeout: 40_000 })
      .catch(async (e: unknown) => {
        const q = await api(`query($id: ID!) { run(id: $id) { ... on Run { state stateReason intents(first: 5) { edges { node { kind stage error stages { stage observation } } } } } } }`, { id });
        throw new Error(`${(e as Error).message}\nrun: ${JSON.stringify(q.data)}`);
      });
    await expect.poll(() => page.locator("table.attempts tbody tr").count(), { timeout: 20_000 }).toBe(2);
    const rows = page.locator("table.attempts tbody tr");
    if ((await rows.nth(0).getAttribute("data-outcome")) !== "FAILED") {
      // say what the history holds, not just that the outcome differs
      const h = await api(`query($id: ID!) { run(id: $id) { ... on Run { attempts { outcome stopReason startedAt endedAt } transitions(last: 20) { edges { node { seq from to reason at } } } } } }`, {
        id,
      });
      const ev = await server.app.pool.query(
        `SELECT e.line, e.name, e."timestamp", e."ingestedAt" FROM "Event" e JOIN "Run" r ON r.id = e."runId" JOIN "Sprite" s ON s.id = r."spriteId" WHERE s.name = 'demo-crash' AND e.name IN ('loop_start','loop_complete') ORDER BY e.line`,
      );
      throw new Error(`attempts: ${JSON.stringify(h.data)}\nevents: ${JSON.stringify(ev.rows)}`);
    }
    expect(await rows.nth(0).getAttribute("data-started-by")).toBe("runtime");
    expect(await rows.nth(1).getAttribute("data-outcome")).toBe("COMPLETE");
    expect(await rows.nth(1).getAttribute("data-started-by")).toBe("tester");
    expect(await rows.nth(1).textContent()).toContain("restart");
    expect(await page.locator(".history-sentence").textContent()).toContain("after 1 crash and 1 restart");
    await page.screenshot({ path: path.join(ARTIFACTS, "run-attempts.png"), fullPage: true });

    // the fleet row counts the restart
    await page.goto(base);
    const row = page.locator('tr[data-sprite="demo-crash"]');
    await expect.poll(() => row.getAttribute("data-restarts"), { timeout: 20_000 }).toBe("1");
    expect(await row.locator('[data-mark="restarted"]').textContent()).toContain("1 restart");
  }, 90_000);

  it("a complete run shows its gates, promise, tests mode and sign-off; its 3 iterations draw a 12-turn swimlane", async () => {
    await page.goto(runUrl("demo-complete"));
    await page.locator(".status-line .badge.state-COMPLETE").waitFor({ timeout: 40_000 });
    const gates = page.locator(".signoff .gates li");
    await expect.poll(() => gates.count()).toBeGreaterThanOrEqual(6);
    expect(await page.locator('.gates li[data-gate="promise"]').getAttribute("data-verdict")).toBe("PASS");
    expect(await page.locator('.gates li[data-gate="checklist"]').getAttribute("data-verdict")).toBe("PASS");
    expect(await page.locator('.gates li[data-gate="tests"]').getAttribute("data-verdict")).toBe("SKIPPED");
    expect(await page.locator(".signoff").getAttribute("data-all-green")).toBe("false");
    expect(await page.locator("[data-tests-mode]").textContent()).toBe("disabled");
    expect(await page.locator(".approver").textContent()).toContain("No human approval was asked for");

    const lanes = page.locator("svg.swimlane");
    await lanes.waitFor();
    expect(await lanes.locator("rect.span").count()).toBe(12);
    for (const role of ["planner", "implementer", "tester", "reviewer"]) expect(await lanes.locator(`rect[data-role="${role}"]`).count()).toBe(3);
    expect(await lanes.locator('rect[data-status="ok"]').count()).toBe(12);
    expect(await lanes.locator("text.lane-head").allTextContents()).toEqual(["it 1", "it 2", "it 3"]);
    expect(await lanes.locator("rect.span title").first().textContent()).toMatch(/planner, iteration 1: ok, \d/);
    expect(await page.locator(".progress-line progress").getAttribute("aria-label")).toBe("iteration 3 of 3");

    // An approved completion names who approved, with the note.
    const approval = runs.get("demo-approval")!.id;
    await waitFor(
      () => demoRuns(server, TOKEN),
      (m) => m.get("demo-approval")?.state === "AWAITING_APPROVAL",
      30_000,
      "awaiting approval",
    );
    await api(`mutation($id: ID!) { approveRun(runId: $id, note: "ship it", resumeAfterApprove: true) { __typename } }`, { id: approval });
    await page.goto(runUrl("demo-approval"));
    await page.locator(".status-line .badge.state-COMPLETE").waitFor({ timeout: 40_000 });
    await expect.poll(() => page.locator(".approver").textContent(), { timeout: 20_000 }).toMatch(/Approved by tester.*ship it/);
    expect(await page.locator('.gates li[data-gate="approval"]').getAttribute("data-verdict")).toBe("PASS");
    await page.screenshot({ path: path.join(ARTIFACTS, "run-signoff.png"), fullPage: true });
    if (process.env.UPDATE_DOCS_SCREENSHOT) await page.screenshot({ path: path.join(DOCS, "dashboard-run.png"), fullPage: false });
  }, 120_000);

  it("cancel asks for confirmation: declining sends nothing, confirming sends the cancel", async () => {
    const id = runs.get("demo-busy")!.id;
    const cancels = async () =>
      ((await api(`query($id: ID!) { run(id: $id) { ... on Run { intents(first: 20) { edges { node { kind } } } } } }`, { id })).data!.run.intents.edges as { node: { kind: string } }[]).filter(
        (e) => e.node.kind === "CANCEL",
      ).length;
    await page.goto(runUrl("demo-busy"));
    await page.locator(".status-line .badge.state-RUNNING").waitFor({ timeout: 30_000 });
    await page.locator('.run-actions button[data-action="CANCEL"]').click();
    const dialog = page.locator("dialog.confirm");
    await dialog.waitFor();
    expect(await dialog.locator("h2").textContent()).toBe("Cancel demo-busy / demo-loop?");
    await page.screenshot({ path: path.join(ARTIFACTS, "confirm-cancel.png") });
    await dialog.locator('button[data-confirm="no"]').click();
    await dialog.waitFor({ state: "detached" });
    expect(await page.locator(".run-actions .action-status").textContent()).toContain("not sent");
    expect(await cancels()).toBe(0);

    await page.locator('.run-actions button[data-action="CANCEL"]').click();
    await page.locator('dialog.confirm button[data-confirm="yes"]').click();
    await expect.poll(cancels, { timeout: 10_000 }).toBe(1);
    // the status line follows the intent to its current stage instead of keeping "DISPATCHED": once the server
    // has confirmed the cancel (its own pace), the line says CONFIRMED
    const cancelStage = async () =>
      (
        (await api(`query($id: ID!) { run(id: $id) { ... on Run { intents(first: 20) { edges { node { kind stage } } } } } }`, { id })).data!.run.intents.edges as {
          node: { kind: string; stage: string };
        }[]
      ).find((e) => e.node.kind === "CANCEL")?.node.stage;
    await expect.poll(cancelStage, { timeout: 60_000, interval: 500 }).toBe("CONFIRMED");
    // (the cancelRun answer itself may come only after the runtime's cancel command has finished waiting for the process)
    await expect.poll(() => page.locator(".run-actions .action-status").textContent(), { timeout: 40_000 }).toMatch(/Cancel run requested: CONFIRMED \(done\)/);
  }, 120_000);

  it("acknowledge removes the item from the queue and records who and why in recently resolved", async () => {
    await page.goto(`${base}#/queue`);
    const card = page.locator('article.queue-item[data-sprite="demo-stuck"]');
    await card.waitFor({ timeout: 40_000 });
    // one health vocabulary: the queue speaks HEALTHY/DEGRADED/CRITICAL like the fleet and the run page
    expect(await card.locator("header .badge").first().getAttribute("class")).toMatch(/health-(DEGRADED|CRITICAL)/);
    await card.locator("input[type=text]").fill("agent hung, on it");
    await card.locator('button[data-action="ACKNOWLEDGE"]').click();
    await card.waitFor({ state: "detached", timeout: 20_000 });
    // the result stays visible after the card left, and the list of what was resolved says who did what
    await expect.poll(() => page.locator(".results-list").textContent()).toContain("Acknowledged by tester");
    const resolved = page.locator('.resolved-list li[data-kind="ACKNOWLEDGED"]');
    await resolved.first().waitFor({ timeout: 20_000 });
    expect(await resolved.first().textContent()).toMatch(/demo-stuck.*acknowledged by tester.*ACTIVE.*agent hung, on it/);
    const rawId = Buffer.from(runs.get("demo-stuck")!.id, "base64").toString().replace(/^Run:/, "");
    const rec = await server.app.db.interventionAck.findMany({ where: { runId: rawId } });
    expect(rec.some((a) => a.by === "tester" && a.note === "agent hung, on it" && a.kind === "ACKNOWLEDGED")).toBe(true);
    // INSPECT is a link to the run
    const inspect = page.locator("a.action-inspect").first();
    if (await inspect.count()) expect(await inspect.getAttribute("href")).toMatch(/^#\/run\//);
    await page.screenshot({ path: path.join(ARTIFACTS, "queue-resolved.png"), fullPage: true });
  }, 90_000);

  it("Sprites: register, update and remove (after a confirmation) from the dashboard's forms", async () => {
    const repo = mkdtempSync(path.join(tmpdir(), "ops-form-"));
    mkdirSync(path.join(repo, ".superloop", "loops", "form-loop"), { recursive: true });
    await page.goto(`${base}#/sprites`);
    const form = page.locator("#register-form");
    await form.waitFor();
    await form.locator('input[name="name"]').fill("form-sprite");
    await form.locator('input[name="repoPath"]').fill(repo);
    await form.locator('input[name="loopId"]').fill("form-loop");
    expect(await form.locator('input[name="agentUrl"]').isVisible()).toBe(false); // LOCAL: no agent fields
    await form.locator('button[type="submit"]').click();
    await expect.poll(() => form.locator(".action-status").textContent()).toBe("Register form-sprite: done");
    const card = page.locator('article.sprite[data-sprite="form-sprite"]');
    await card.waitFor();
    expect(await card.locator(".sprite-runs").textContent()).toContain("form-loop");

    // a refusal comes back in words
    await form.locator('input[name="name"]').fill("form-sprite");
    await form.locator('input[name="repoPath"]').fill(repo);
    await form.locator('input[name="loopId"]').fill("form-loop");
    await form.locator('button[type="submit"]').click();
    await expect.poll(() => form.locator(".action-status").textContent()).toMatch(/Register form-sprite refused/);

    await card.locator("summary").click();
    await card.locator('input[name="pollIntervalMs"]').fill("4321");
    await card.locator("form.update button[type=submit]").click();
    await expect.poll(async () => (await api(`{ sprite(name: "form-sprite") { ... on Sprite { pollIntervalMs } } }`)).data?.sprite?.pollIntervalMs).toBe(4321);

    await page.locator('article.sprite[data-sprite="form-sprite"] button[data-action="REMOVE"]').click();
    await page.locator('dialog.confirm button[data-confirm="no"]').click();
    expect(await page.locator('article.sprite[data-sprite="form-sprite"]').count()).toBe(1);
    await page.locator('article.sprite[data-sprite="form-sprite"] button[data-action="REMOVE"]').click();
    await page.locator('dialog.confirm button[data-confirm="yes"]').click();
    await page.locator('article.sprite[data-sprite="form-sprite"]').waitFor({ state: "detached" });
    expect(await page.locator(".sprites-view > .action-status").textContent()).toContain("Removed form-sprite");
  }, 60_000);

  it("a bad run id says not found; at 390 px nothing scrolls sideways", async () => {
    await page.goto(`${base}#/run/no-such-run`);
    await expect.poll(() => page.locator("#run-title").textContent(), { timeout: 15_000 }).toBe("Run not found");
    expect(await page.locator(".not-found").textContent()).toContain("no-such-run");

    await page.setViewportSize({ width: 390, height: 844 });
    for (const hash of ["#/", "#/queue", "#/sprites", `#/run/${encodeURIComponent(runs.get("demo-complete")!.id)}`]) {
      await page.goto(`${base}${hash}`);
      await page.waitForSelector("main .view h2");
      await page.waitForTimeout(500); // let the view's first load render
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow, `horizontal overflow on ${hash}`).toBeLessThanOrEqual(0);
    }
    await page.goto(base);
    await page.waitForSelector("table.runs tbody tr");
    await page.screenshot({ path: path.join(ARTIFACTS, "fleet-390.png"), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
