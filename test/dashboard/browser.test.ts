import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO_FLEET } from "../../demo/fleet";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { demoRuns, startDemoServer } from "../demo/demo-server";

// The dashboard in a real browser (Debian's chromium driven by playwright-core) against a real manager
// running the demo fleet: the fleet shows, an approval click ends in a completed run on screen, and a
// WebSocket killed by the server comes back and the live feed carries on without a duplicate or a gap.
// Screenshots of the main views land in test/artifacts/ (git-ignored).

const CHROMIUM = "/usr/bin/chromium";
// Only a developer machine without chromium may skip; CI installs it (.ci/run) and must run this.
const skip = !existsSync(CHROMIUM) && !process.env.CI;
const ARTIFACTS = path.resolve(import.meta.dirname, "../artifacts");
const TOKEN = "dashboard-test-token";

// demo-busy must keep writing for the whole file; the other stories play at the usual test speed.
const FLEET = DEMO_FLEET.map((s) => (s.name === "demo-busy" ? { ...s, stepMs: 3000, passOnIteration: 200, maxIterations: 200 } : s));

describe.skipIf(skip)("dashboard in a browser", () => {
  let server: RunningServer;
  let base: string;
  let context: BrowserContext;
  let page: Page;
  const sockets = new Set<Socket>();
  const pageErrors: string[] = [];
  const subscribes: { runId: string | null; after: string | null }[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    ({ server } = await startDemoServer({ demo: { sprites: FLEET }, env: { OPS_TOKENS: `tester:admin:${TOKEN}` } }));
    base = server.url.replace(/\/graphql$/, "/");
    // Test-only view of the upgraded sockets, so the test can cut them the way a network failure would.
    server.http.on("upgrade", (_req, socket: Socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    context = await chromium.launchPersistentContext(mkdtempSync(path.join(tmpdir(), "ops-chromium-")), {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
      viewport: { width: 1280, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (e) => pageErrors.push(e.message));
    // What the page asks the server for: the test checks a resubscription resumes from the last cursor.
    page.on("websocket", (ws) =>
      ws.on("framesent", (f) => {
        const msg = JSON.parse(String(f.payload)) as { type: string; payload?: { query?: string; variables?: { runId?: string; after?: string | null } } };
        if (msg.type === "subscribe" && msg.payload?.query?.includes("runEvents")) {
          subscribes.push({ runId: msg.payload.variables?.runId ?? null, after: msg.payload.variables?.after ?? null });
        }
      }),
    );
    page.setDefaultTimeout(20_000);
  }, 90_000);

  afterAll(async () => {
    await context?.close();
    await server?.close();
  });

  it("without a token it says so; with the token saved it shows the fleet by state and health", async () => {
    await page.goto(base);
    await expect.poll(() => page.locator("#banner").textContent(), { timeout: 15_000 }).toContain("Not authorised");
    await page.fill("#token", TOKEN);
    await page.click("#token-form button[type=submit]");
    await page.waitForSelector('tr[data-sprite="demo-approval"][data-state="AWAITING_APPROVAL"]', { timeout: 30_000 });
    await page.waitForSelector('tr[data-sprite="demo-crash"][data-state="FAILED"]');
    await page.waitForSelector('tr[data-sprite="demo-complete"][data-state="COMPLETE"]');
    // stale shows up without any event: wait for the fleet's periodic re-read if need be
    await page.waitForSelector('tr[data-sprite="demo-stuck"] .badge.health-CRITICAL, tr[data-sprite="demo-stuck"] .badge.health-DEGRADED', { timeout: 40_000 });
    await expect.poll(() => page.locator("#banner").isHidden()).toBe(true);

    const rows = await page.locator("table.runs tbody tr").count();
    expect(rows).toBe(FLEET.length);
    expect(await page.locator(".headline").textContent()).toContain(`${FLEET.length} sprites`);
    const byState = page.locator('section[aria-label="By state"]');
    // the word is on screen; a screen reader also hears what it is
    const badge = byState.locator(".badge.state-AWAITING_APPROVAL");
    expect(await badge.innerText()).toContain("AWAITING_APPROVAL");
    expect(await badge.textContent()).toBe("State: AWAITING_APPROVAL");
    expect(await badge.getAttribute("title")).toBe("State: awaiting approval");
    expect(await page.locator('section[aria-label="By health"] .badge').count()).toBeGreaterThanOrEqual(2);
    // the token survives a reload (localStorage)
    await page.reload();
    await page.waitForSelector('tr[data-sprite="demo-approval"]');
    expect(await page.inputValue("#token")).toBe(TOKEN);
    await page.screenshot({ path: path.join(ARTIFACTS, "fleet.png"), fullPage: true });
  }, 90_000);

  it("approve in the queue (with resume): the run completes on screen and the intent reaches CONFIRMED", async () => {
    await withToken(page, base);
    await page.goto(`${base}#/queue`);
    const card = page.locator('article.queue-item[data-sprite="demo-approval"]');
    await card.waitFor();
    await page.locator('article.queue-item[data-sprite="demo-stuck"]').waitFor();
    await expect.poll(() => page.locator("#queue-count").textContent()).toMatch(/^[1-9]\d*$/);
    await page.screenshot({ path: path.join(ARTIFACTS, "queue.png"), fullPage: true });

    await card.locator("input[type=text]").fill("looks good");
    await card.locator('button[data-action="APPROVE"]').click();
    // the status line follows the intent's stage (it may already be CONFIRMED), or the card has left the queue
    await expect
      .poll(
        () =>
          card
            .locator(".action-status")
            .textContent({ timeout: 1000 })
            .catch(() => "gone"),
        { timeout: 20_000 },
      )
      .toMatch(/Approve requested: (DISPATCHED|ACCEPTED|CONFIRMED)|gone/);
    // resolved: the run leaves the queue
    await page.locator('article.queue-item[data-sprite="demo-approval"]').waitFor({ state: "detached", timeout: 40_000 });

    const runId = (await demoRuns(server, TOKEN)).get("demo-approval")!.id;
    await page.goto(`${base}#/run/${encodeURIComponent(runId)}`);
    await page
      .locator(".status-line .badge.state-COMPLETE")
      .waitFor({ timeout: 40_000 })
      .catch(async (e: unknown) => {
        // say where the control flow stopped, not just that the badge never came
        const r = await gql(
          server.url,
          `query($id: ID!) { run(id: $id) { ... on Run { state stateReason intents(first: 5) { edges { node { kind stage error stages { stage at observation } } } } } } }`,
          { id: runId },
          TOKEN,
        );
        throw new Error(`${(e as Error).message}\nrun: ${JSON.stringify(r.data)}`);
      });
    // the approve, and the start the manager issued to resume the loop after it
    await page.locator('.intent[data-kind="APPROVE"][data-stage="CONFIRMED"]').waitFor({ timeout: 40_000 });
    await page.locator('.intent[data-kind="START"]').first().waitFor();
    const timeline = await page.locator(".timeline li").allTextContents();
    expect(timeline.some((t) => t.includes("AWAITING_APPROVAL"))).toBe(true);
    expect(timeline.at(-1)).toContain("COMPLETE");
    const feed = await page.locator(".feed li .name").allTextContents();
    expect(feed).toEqual(expect.arrayContaining(["approval_decision", "approval_consumed", "loop_complete"]));
    await page.screenshot({ path: path.join(ARTIFACTS, "run-approved.png"), fullPage: true });
  }, 120_000);

  it("a WebSocket killed by the server reconnects; the feed resumes from its cursor with no duplicate and no gap", async () => {
    const runId = (await demoRuns(server, TOKEN)).get("demo-busy")!.id;
    await withToken(page, base);
    await page.goto(`${base}#/run/${encodeURIComponent(runId)}`);
    await page.locator(".status-line .badge.state-RUNNING").waitFor();
    await expect.poll(() => page.locator(".feed li").count(), { timeout: 20_000 }).toBeGreaterThan(15);

    expect(sockets.size).toBeGreaterThan(0);
    const shownBefore = Math.max(...(await lines(page)));
    for (const s of sockets) s.destroy();
    await page.locator("#banner").getByText("Connection lost").waitFor({ timeout: 10_000 });
    expect(await page.locator("#banner").getAttribute("aria-live")).toBe("assertive");
    await page.screenshot({ path: path.join(ARTIFACTS, "reconnecting.png") });
    await page.locator("#banner").waitFor({ state: "hidden", timeout: 20_000 });

    // new events after the reconnect
    await expect.poll(async () => Math.max(...(await lines(page))), { timeout: 20_000 }).toBeGreaterThan(shownBefore + 10);
    const all = await lines(page);
    expect(new Set(all).size).toBe(all.length);
    for (let i = 1; i < all.length; i++) expect(all[i]).toBe(all[i - 1] + 1);

    // the resubscription asked for what came after the last line shown, not for the original backlog
    const mine = subscribes.filter((s) => s.runId === runId);
    expect(mine.length).toBe(2);
    const resumedFrom = Number(mine[1].after);
    expect(resumedFrom).toBeGreaterThanOrEqual(shownBefore);
    expect(resumedFrom).toBeGreaterThan(Number(mine[0].after));

    // the same from the client side: the page drops its own socket (graphql-ws terminate, as on a frozen link)
    const before2 = Math.max(...(await lines(page)));
    await page.evaluate(() => (window as unknown as { superloopOps: { dropConnection(): void } }).superloopOps.dropConnection());
    await page.locator("#banner").getByText("Connection lost").waitFor({ timeout: 10_000 });
    await page.locator("#banner").waitFor({ state: "hidden", timeout: 20_000 });
    await expect.poll(async () => Math.max(...(await lines(page))), { timeout: 20_000 }).toBeGreaterThan(before2 + 10);
    const again = await lines(page);
    for (let i = 1; i < again.length; i++) expect(again[i]).toBe(again[i - 1] + 1);
    expect(subscribes.filter((s) => s.runId === runId)).toHaveLength(3);

    await page.screenshot({ path: path.join(ARTIFACTS, "run-live.png"), fullPage: true });
    expect(pageErrors).toEqual([]);
  }, 90_000);
});

/** Each test can run alone: store the token as the form would. */
async function withToken(page: Page, base: string): Promise<void> {
  await page.goto(base);
  await page.evaluate((t) => localStorage.setItem("superloop-ops.token", t), TOKEN);
  await page.reload();
}

async function lines(page: Page): Promise<number[]> {
  return await page.locator(".feed li").evaluateAll((els) => els.map((e) => Number(e.getAttribute("data-line"))));
}
