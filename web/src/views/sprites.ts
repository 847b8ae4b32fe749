import type { Api } from "../api";
import { confirmAction } from "../confirm";
import { badge, detached, h, replace } from "../dom";
import { REGISTER_SPRITE, REMOVE_SPRITE, SPRITES, UPDATE_SPRITE } from "../queries";
import type { SpriteRow } from "../types";
import type { View } from "./view";

// Sprites: register one (a repo + loop on this machine, a sprite_service agent, or a Sprite through the
// Sprites API), change its settings, or stop observing it — so a first user needs neither curl nor GraphiQL.
// Forms send the same mutations any API client would, with the operator's token; errors come back in words.

const TRANSPORTS = [
  ["LOCAL", "LOCAL — a repo on this machine"],
  ["SPRITE_SERVICE", "SPRITE_SERVICE — an agent inside the Sprite"],
  ["SPRITES_API", "SPRITES_API — Fly.io Sprites API"],
] as const;

interface MutationAnswer {
  result?: { __typename: string; message?: string; issues?: { path: string[]; message: string }[]; name?: string; purged?: boolean; removedRuns?: number } | null;
}

function answerText(what: string, r: { data?: MutationAnswer; errors?: { message: string }[] }): { ok: boolean; text: string } {
  if (r.errors?.length) return { ok: false, text: `${what} failed: ${r.errors[0].message}` };
  const res = r.data?.result;
  if (!res) return { ok: false, text: `${what}: no answer` };
  if (res.issues?.length) return { ok: false, text: `${what} refused: ${res.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}` };
  if (res.message !== undefined) return { ok: false, text: `${what} refused (${res.__typename}): ${res.message}` };
  return { ok: true, text: `${what}: done` };
}

let fieldSeq = 0;
function field(labelText: string, input: HTMLInputElement | HTMLSelectElement, hint?: string): HTMLElement {
  const id = `f-${++fieldSeq}`;
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, labelText), input, hint ? h("span", { class: "hint" }, hint) : null);
}

const text = (name: string, attrs: Record<string, string | number | boolean> = {}) => h("input", { name, type: "text", autocomplete: "off", ...attrs });
const select = (name: string, options: readonly (readonly [string, string])[], value?: string) =>
  h(
    "select",
    { name },
    options.map(([v, t]) => h("option", { value: v, selected: v === value }, t)),
  );

/** Reads the form's non-empty fields; numbers for the numeric ones. */
function values(form: HTMLFormElement, numeric: string[]): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const [k, v] of new FormData(form).entries()) {
    const s = typeof v === "string" ? v.trim() : "";
    if (!s) continue;
    out[k] = numeric.includes(k) ? Number(s) : s;
  }
  return out;
}

/** Shows only the inputs of the chosen transport. */
function transportSwitch(form: HTMLFormElement, sel: HTMLSelectElement): void {
  const apply = () => {
    for (const el of Array.from(form.querySelectorAll<HTMLElement>("[data-for]"))) el.hidden = !(el.dataset["for"] ?? "").split(" ").includes(sel.value);
  };
  sel.addEventListener("change", apply);
  apply();
}

function registerForm(api: Api, onDone: () => void): HTMLElement {
  const status = h("p", { class: "action-status", role: "status", "aria-live": "polite" });
  const transport = select("transport", TRANSPORTS, "LOCAL");
  const form = h(
    "form",
    { class: "sprite-form", id: "register-form", "aria-labelledby": "register-title" },
    h("h3", { id: "register-title" }, "Register a Sprite"),
    field("Name", text("name", { required: true, maxlength: 63, placeholder: "e.g. api-sprite" })),
    field("Transport", transport),
    field("Repo path", text("repoPath", { required: true, placeholder: "/home/sprite/repo" }), "absolute path of the repo inside the Sprite"),
    field("Loop id", text("loopId", { required: true, placeholder: "demo-loop" }), "a folder under .superloop/loops/"),
    h(
      "div",
      { "data-for": "SPRITE_SERVICE" },
      field("Agent URL", text("agentUrl", { placeholder: "http://10.0.0.5:7777" })),
      field("Agent token env var", text("agentTokenEnv", { placeholder: "OPS_SECRET_AGENT_TOKEN" }), "the NAME of an env var (OPS_SECRET_… by default); never the token"),
    ),
    h(
      "div",
      { "data-for": "SPRITES_API" },
      field("Sprites API name", text("spritesApiName", { placeholder: "defaults to the name" })),
      field("API token env var", text("spritesApiTokenEnv", { placeholder: "SPRITES_TOKEN" })),
    ),
    field("Poll interval (ms)", text("pollIntervalMs", { inputmode: "numeric", placeholder: "server default" })),
    h("div", { class: "buttons" }, h("button", { type: "submit" }, "Register")),
    status,
  );
  transportSwitch(form, transport);
  form.addEventListener(
    "submit",
    detached(async (e) => {
      e.preventDefault();
      const input = transportInput(form);
      status.textContent = "Registering…";
      const r = await api.request<MutationAnswer>(REGISTER_SPRITE, { input });
      const a = answerText(`Register ${String(input["name"] ?? "")}`, r);
      status.textContent = a.text;
      if (a.ok) {
        form.reset();
        transport.dispatchEvent(new Event("change"));
        onDone();
      }
    }),
  );
  return form;
}

/** The form's values, without the fields of the transports not chosen (they may hold stale text). */
function transportInput(form: HTMLFormElement): Record<string, string | number> {
  const input = values(form, ["pollIntervalMs"]);
  for (const el of Array.from(form.querySelectorAll<HTMLElement>("[data-for]"))) if (el.hidden) for (const i of Array.from(el.querySelectorAll("input"))) Reflect.deleteProperty(input, i.name);
  return input;
}

function updateForm(api: Api, s: SpriteRow, onDone: () => void): HTMLElement {
  const status = h("p", { class: "action-status", role: "status", "aria-live": "polite" });
  const transport = select("transport", TRANSPORTS, s.transport);
  const form = h(
    "form",
    { class: "sprite-form update", "data-sprite": s.name, "aria-label": `Settings of ${s.name}` },
    field("Transport", transport),
    h(
      "div",
      { "data-for": "SPRITE_SERVICE" },
      field("Agent URL", text("agentUrl", { value: s.agentUrl ?? "" })),
      field("Agent token env var", text("agentTokenEnv", { value: s.agentTokenEnv ?? "" })),
    ),
    h("div", { "data-for": "SPRITES_API" }, field("Sprites API name", text("spritesApiName", { value: s.spritesApiName ?? "" }))),
    field("Poll interval (ms)", text("pollIntervalMs", { inputmode: "numeric", value: s.pollIntervalMs ?? "" })),
    field(
      "Health profile",
      select(
        "healthProfile",
        [
          ["default", "default"],
          ["strict", "strict"],
          ["balanced", "balanced"],
          ["relaxed", "relaxed"],
        ],
        s.healthProfile,
      ),
    ),
    field(
      "Control",
      select(
        "controlMode",
        [
          ["ENABLED", "enabled"],
          ["DISABLED", "disabled (observe only)"],
        ],
        s.controlMode,
      ),
    ),
    h("div", { class: "buttons" }, h("button", { type: "submit" }, `Save ${s.name}`)),
    status,
  );
  transportSwitch(form, transport);
  form.addEventListener(
    "submit",
    detached(async (e) => {
      e.preventDefault();
      const input = transportInput(form);
      status.textContent = "Saving…";
      const a = answerText(`Update ${s.name}`, await api.request<MutationAnswer>(UPDATE_SPRITE, { name: s.name, input }));
      status.textContent = a.text;
      if (a.ok) onDone();
    }),
  );
  return form;
}

function spriteCard(api: Api, s: SpriteRow, reload: () => void, say: (t: string) => void): HTMLElement {
  const runs = s.runs.edges.map((e) => e.node);
  const details = h("details", { class: "sprite-edit" }, h("summary", {}, "Change settings"), updateForm(api, s, reload));
  const purge = h("input", { type: "checkbox", name: "purge" });
  const remove = h(
    "button",
    {
      type: "button",
      class: "danger action-remove",
      "data-action": "REMOVE",
      "aria-label": `Remove ${s.name}`,
      onclick: async () => {
        const ok = await confirmAction({
          title: `Remove ${s.name}?`,
          body: purge.checked
            ? `Every row of ${s.name} and its ${runs.length} run(s) is deleted: history, events, intents. This cannot be undone.`
            : `${s.name} is no longer observed; its history is kept and registering the name again revives it.`,
          confirm: purge.checked ? "Delete everything" : "Remove",
          cancel: "Keep it",
        });
        if (!ok) return;
        const r = await api.request<MutationAnswer>(REMOVE_SPRITE, { name: s.name, purge: purge.checked });
        const a = answerText(`Remove ${s.name}`, r);
        const res = r.data?.result;
        say(a.ok && res ? `Removed ${s.name}: ${res.removedRuns ?? 0} run(s) no longer observed${res.purged ? ", every row deleted" : ", history kept"}` : a.text);
        reload();
      },
    },
    "Remove",
  );
  return h(
    "article",
    { class: "card sprite", "data-sprite": s.name },
    h(
      "header",
      { class: "sprite-head" },
      h("h3", {}, s.name),
      h("span", { class: "badge state-IDLE", title: `Sprite status: ${s.status.toLowerCase()}` }, s.status),
      h("span", { class: "muted small" }, ` ${s.transport} · control ${s.controlMode.toLowerCase()}`),
    ),
    runs.length
      ? h(
          "ul",
          { class: "sprite-runs" },
          runs.map((r) => h("li", {}, h("a", { href: `#/run/${encodeURIComponent(r.id)}` }, r.loopId), " ", badge("state", r.state), " ", h("code", { class: "small" }, r.repoPath))),
        )
      : h("p", { class: "muted" }, "No run observed."),
    details,
    h("div", { class: "actions" }, remove, h("label", { class: "note" }, purge, " also delete its history")),
  );
}

export function spritesView(api: Api): View {
  const list = h("div", { class: "sprite-list" }, h("p", { class: "muted" }, "Loading the Sprites…"));
  const status = h("p", { class: "action-status", role: "status", "aria-live": "polite" });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  let disposed = false;
  const load = async () => {
    try {
      const data = await api.data<{ sprites: { edges: { node: SpriteRow }[] } }>(SPRITES);
      if (disposed) return;
      error.hidden = true;
      const sprites = data.sprites.edges.map((e) => e.node);
      replace(
        list,
        sprites.length
          ? sprites.map((s) =>
              spriteCard(
                api,
                s,
                () => void load(),
                (t) => (status.textContent = t),
              ),
            )
          : h("p", { class: "empty" }, "No Sprite registered yet: use the form."),
      );
    } catch (e) {
      if (disposed) return;
      error.hidden = false;
      error.textContent = `Cannot load the Sprites: ${e instanceof Error ? e.message : String(e)}`;
    }
  };
  const el = h(
    "section",
    { class: "view sprites-view", "aria-labelledby": "sprites-title" },
    h("h2", { id: "sprites-title" }, "Sprites"),
    error,
    status,
    h(
      "div",
      { class: "run-grid" },
      h(
        "section",
        { class: "card" },
        registerForm(api, () => void load()),
      ),
      h("div", {}, list),
    ),
  );
  void load();
  return { el, refresh: () => void load(), dispose: () => (disposed = true) };
}
