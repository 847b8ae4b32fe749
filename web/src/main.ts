import { Api, type ConnectionState } from "./api";
import { h, refreshTimes, replace } from "./dom";
import { DEMO_SPRITES, INTERVENTIONS_CHANGED } from "./queries";
import { fleetView } from "./views/fleet";
import { policiesView } from "./views/policies";
import { queueView } from "./views/queue";
import { runView } from "./views/run";
import { spritesView } from "./views/sprites";
import { debounce, type View } from "./views/view";

// Entry point: hash routes (#/, #/queue, #/sprites, #/policies, #/run/<id>), the token form, the connection banner, the
// queue counter in the navigation and the DEMO marker.

const api = new Api();
const main = document.getElementById("main")!;
const banner = document.getElementById("banner")!;
const queueCount = document.getElementById("queue-count")!;
const demoMarker = document.getElementById("demo-marker")!;
let current: View | null = null;

type Route = { name: "fleet" | "queue" | "sprites" | "policies" | "run"; runId?: string };
const TITLES: Record<Route["name"], string> = { fleet: "Fleet", queue: "Interventions", sprites: "Sprites", policies: "Policies", run: "Run" };

function route(): Route {
  const hash = location.hash.replace(/^#/, "") || "/";
  const run = /^\/run\/(.+)$/.exec(hash);
  if (run) return { name: "run", runId: decodeURIComponent(run[1]) };
  if (hash === "/queue") return { name: "queue" };
  if (hash === "/sprites") return { name: "sprites" };
  if (hash === "/policies") return { name: "policies" };
  return { name: "fleet" };
}

function mount(): void {
  current?.dispose();
  const r = route();
  current = r.name === "run" ? runView(api, r.runId!) : r.name === "queue" ? queueView(api) : r.name === "sprites" ? spritesView(api) : r.name === "policies" ? policiesView(api) : fleetView(api);
  replace(main, current.el);
  for (const a of Array.from(document.querySelectorAll<HTMLAnchorElement>("nav a[data-nav]"))) {
    if (a.dataset["nav"] === r.name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = `${TITLES[r.name]} · superloop-ops`;
  void updateDemo();
}

// ------------------------------------------------------------------------------------------------ demo

/** DEMO while any Sprite is a demo Sprite (simulated runs): nobody should mistake them for real work. */
async function updateDemo(): Promise<void> {
  const r = await api.request<{ sprites: { edges: { node: { name: string; demo: boolean } }[] } }>(DEMO_SPRITES).catch(() => null);
  // A server without Sprite.demo answers with an error: no marker then.
  const demo = r?.data?.sprites.edges.map((e) => e.node).filter((s) => s.demo) ?? [];
  demoMarker.hidden = demo.length === 0;
  demoMarker.title = demo.length ? `Demo Sprites (simulated runs): ${demo.map((s) => s.name).join(", ")}` : "";
  document.body.dataset["demo"] = String(demo.length > 0);
}

// ------------------------------------------------------------------------------------------ connection

let everConnected = false;
function showConnection(s: ConnectionState): void {
  if (s.kind === "connected") {
    banner.hidden = true;
    banner.textContent = "";
    document.body.dataset["connection"] = "connected";
    // Changes made while we were away were not pushed to us: re-read what is on screen.
    if (s.retry || everConnected) current?.refresh();
    everConnected = true;
    startQueueCounter();
    return;
  }
  if (s.kind === "closed") {
    document.body.dataset["connection"] = "lost";
    banner.hidden = false;
    banner.className = "banner warn";
    const denied = s.code === 4403 || s.code === 4401;
    replace(
      banner,
      h("strong", {}, denied ? "Not authorised." : "Connection lost."),
      denied ? " Live updates need a valid API token (top right). Retrying…" : " Reconnecting… live updates resume where they stopped.",
    );
  }
}

// --------------------------------------------------------------------------------------- queue counter

let counterSub: (() => void) | null = null;
const updateCount = debounce(async () => {
  const r = await api.request<{ interventions: { run: { id: string } }[] }>(`{ interventions { run { id } } }`).catch(() => null);
  const n = r?.data?.interventions.length;
  queueCount.textContent = n === undefined ? "" : String(n);
  queueCount.className = n ? "count hot" : "count";
}, 300);

function startQueueCounter(): void {
  updateCount();
  void updateDemo();
  if (counterSub) return;
  counterSub = api.subscribe({ query: INTERVENTIONS_CHANGED, variables: {} }, { next: () => updateCount(), complete: () => (counterSub = null) });
}

// -------------------------------------------------------------------------------------------- token

function setupToken(): void {
  const form = document.getElementById("token-form") as HTMLFormElement;
  const input = document.getElementById("token") as HTMLInputElement;
  input.value = api.token;
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    counterSub?.();
    counterSub = null;
    api.setToken(input.value.trim());
    mount();
  });
}

api.onConnection(showConnection);
setupToken();
window.addEventListener("hashchange", mount);
mount();
updateCount();
// "3m ago" must keep moving while nothing else changes.
setInterval(() => refreshTimes(), 15_000);

// Test seam for the browser tests (and curious operators): drop the socket as a network failure would.
(window as unknown as { superloopOps: { dropConnection(): void } }).superloopOps = { dropConnection: () => api.dropConnection() };
