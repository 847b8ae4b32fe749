import { Api, type ConnectionState } from "./api";
import { h, replace } from "./dom";
import { INTERVENTIONS_CHANGED } from "./queries";
import { fleetView } from "./views/fleet";
import { queueView } from "./views/queue";
import { runView } from "./views/run";
import { debounce, type View } from "./views/view";

// Entry point: hash routes (#/, #/queue, #/run/<id>), the token form, the connection banner and the queue
// counter in the navigation.

const api = new Api();
const main = document.getElementById("main")!;
const banner = document.getElementById("banner")!;
const queueCount = document.getElementById("queue-count")!;
let current: View | null = null;

function route(): { name: "fleet" | "queue" | "run"; runId?: string } {
  const hash = location.hash.replace(/^#/, "") || "/";
  const run = /^\/run\/(.+)$/.exec(hash);
  if (run) return { name: "run", runId: decodeURIComponent(run[1]!) };
  if (hash === "/queue") return { name: "queue" };
  return { name: "fleet" };
}

function mount(): void {
  current?.dispose();
  const r = route();
  current = r.name === "run" ? runView(api, r.runId!) : r.name === "queue" ? queueView(api) : fleetView(api);
  replace(main, current.el);
  for (const a of Array.from(document.querySelectorAll<HTMLAnchorElement>("nav a[data-nav]"))) {
    if (a.dataset["nav"] === r.name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = `${r.name === "run" ? "Run" : r.name === "queue" ? "Interventions" : "Fleet"} · superloop-ops`;
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

// Test seam for the browser tests (and curious operators): drop the socket as a network failure would.
(window as unknown as { superloopOps: { dropConnection(): void } }).superloopOps = { dropConnection: () => api.dropConnection() };
