import { z } from "zod";
import type { Api, Typed } from "./api";
import { CliError, EXIT } from "./exit-codes";

// Which runs a command is about: named ones (raw id, Relay id, run/<id> from `-o name`, or a Sprite name), or a
// selector. State, Sprite and intervention filters go to the API's RunFilter; health and labels are checked
// here on the page the server returned. Pages of 100 are followed until --limit or the end.

export const LIFECYCLE_STATES = ["AWAITING_APPROVAL", "COMPLETE", "FAILED", "IDLE", "PAUSED", "RUNNING", "STOPPED", "UNKNOWN"] as const;
export const HEALTH_STATUSES = ["HEALTHY", "DEGRADED", "CRITICAL"] as const;
export const TERMINAL_STATES = new Set(["COMPLETE", "FAILED", "STOPPED"]);

export const RUN_FIELDS = `id loopId repoPath state stateReason stateSince iteration runtimeRunId lastEventName lastEventAt seq
  health { status reasons { code severity message since } }
  ingest { status cursorLine lastError lastPolledAt }
  divergence { open }
  sprite { name transport status controlMode }`;

export interface RunView {
  id: string;
  loopId: string;
  repoPath: string;
  state: string;
  stateReason: string;
  stateSince: string;
  iteration: number | null;
  runtimeRunId: string | null;
  lastEventName: string | null;
  lastEventAt: string | null;
  seq: number;
  health: { status: string; reasons: { code: string; severity: string; message: string; since: string }[] };
  ingest: { status: string; cursorLine: number; lastError: string | null; lastPolledAt: string | null };
  divergence: { open: boolean };
  sprite: { name: string; transport: string; status: string; controlMode: string; labels?: unknown };
}

const Selector = z.object({
  state: z.array(z.enum(LIFECYCLE_STATES)).optional(),
  health: z.array(z.enum(HEALTH_STATUSES)).optional(),
  sprite: z.string().min(1).optional(),
  label: z.array(z.string().regex(/^[^=\s]+(=\S*)?$/, "--label takes key=value (or a bare label)")).optional(),
  needsIntervention: z.boolean().optional(),
  limit: z.number().int().positive().optional(),
});
export type Selector = z.infer<typeof Selector>;

/** Commander hands options over as strings (repeatable ones as arrays); upper-case the enums and check them. */
export function parseSelector(raw: Record<string, unknown>): Selector {
  const list = (v: unknown) =>
    v === undefined
      ? undefined
      : (v as string[])
          .flatMap((s) => s.split(","))
          .map((s) => s.trim().toUpperCase())
          .filter(Boolean);
  const parsed = Selector.safeParse({
    state: list(raw["state"]),
    health: list(raw["health"]),
    sprite: raw["sprite"],
    label: raw["label"],
    needsIntervention: raw["needsIntervention"] === true ? true : undefined,
    limit: raw["limit"] === undefined ? undefined : Number(raw["limit"]),
  });
  if (!parsed.success) {
    throw new CliError(parsed.error.issues.map((i) => `--${String(i.path[0] ?? "").replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${i.message}`).join("; "), EXIT.usage);
  }
  return parsed.data;
}

export function hasSelector(s: Selector): boolean {
  return Boolean(s.state?.length || s.health?.length || s.sprite || s.label?.length || s.needsIntervention);
}

/** Labels as the server gives them: strings ("team=x", or a bare "gpu"), an object map, or {key|name, value}s. */
export function labelsOf(labels: unknown): Record<string, string> {
  if (Array.isArray(labels)) {
    const out: Record<string, string> = {};
    for (const l of labels as (string | { key?: string; name?: string; value?: unknown })[]) {
      if (typeof l === "string") {
        const at = l.indexOf("=");
        if (at > 0) out[l.slice(0, at)] = l.slice(at + 1);
        else out[l] = "";
        continue;
      }
      const k = l.key ?? l.name;
      if (k) out[k] = typeof l.value === "string" ? l.value : l.value == null ? "" : JSON.stringify(l.value);
    }
    return out;
  }
  if (labels && typeof labels === "object") return Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, String(v)]));
  return {};
}

export function matchesLabels(labels: unknown, selectors: readonly string[]): boolean {
  const have = labelsOf(labels);
  return selectors.every((s) => {
    const at = s.indexOf("=");
    // a bare --label gpu asks for the label to be there, whatever its value
    return at < 0 ? s in have : have[s.slice(0, at)] === s.slice(at + 1);
  });
}

/** How the server spells Sprite labels, asked once: null when it has none (then --label cannot be served). */
async function labelsSelection(api: Api): Promise<string | null> {
  const r = await api.request<{
    __type: { fields: { name: string; type: { kind: string; name: string | null; ofType: { kind: string; name: string | null; ofType: { name: string | null } | null } | null } }[] } | null;
  }>(`{ __type(name: "Sprite") { fields { name type { kind name ofType { kind name ofType { name } } } } } }`);
  const field = r.__type?.fields.find((f) => f.name === "labels");
  if (!field) return null;
  // unwrap NON_NULL / LIST to the named type
  let t: { kind: string; name: string | null; ofType?: unknown } = field.type;
  let named: string | null = t.name;
  while (!named && t.ofType) {
    t = t.ofType as typeof t;
    named = t.name;
  }
  if (!named || named === "JSON" || named === "String") return "labels";
  const fields = await api.request<{ __type: { fields: { name: string }[] | null } | null }>(`query($n: String!) { __type(name: $n) { fields { name } } }`, { n: named });
  const names = (fields.__type?.fields ?? []).map((f) => f.name).filter((n) => n === "key" || n === "name" || n === "value");
  return `labels { ${names.join(" ")} }`;
}

/**
 * The runs a selector picks, all pages, at most --limit. `extra` adds fields to each run (e.g. its intents);
 * `pageSize` keeps such a query under the server's cost limit (each field counts once per item of its pages; a
 * page size given as a variable counts as 500 there, so it is written into the document).
 */
export async function selectRuns(api: Api, sel: Selector, extra = "", pageSize = 100): Promise<RunView[]> {
  let labels = "";
  if (sel.label?.length) {
    const s = await labelsSelection(api);
    if (!s) throw new CliError("--label: this server's Sprites have no labels", EXIT.usage);
    labels = s;
  }
  const filter = {
    ...(sel.state?.length ? { state: sel.state } : {}),
    ...(sel.sprite ? { sprite: sel.sprite } : {}),
    ...(sel.needsIntervention ? { needsIntervention: true } : {}),
  };
  const fields = labels ? RUN_FIELDS.replace("sprite { name", `sprite { ${labels} name`) : RUN_FIELDS;
  const out: RunView[] = [];
  let after: string | null = null;
  for (;;) {
    const page: { runs: { edges: { node: RunView }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } = await api.request(
      `query($f: RunFilter, $after: String) { runs(first: ${Math.trunc(pageSize)}, after: $after, filter: $f) { edges { node { ${fields} ${extra} } } pageInfo { hasNextPage endCursor } } }`,
      { f: filter, after },
    );
    for (const { node } of page.runs.edges) {
      if (sel.health?.length && !sel.health.includes(node.health.status as (typeof HEALTH_STATUSES)[number])) continue;
      if (sel.label?.length && !matchesLabels(node.sprite.labels, sel.label)) continue;
      out.push(node);
      if (sel.limit && out.length >= sel.limit) return out;
    }
    if (!page.runs.pageInfo.hasNextPage || !page.runs.pageInfo.endCursor) return out;
    after = page.runs.pageInfo.endCursor;
  }
}

/** `run/<id>` (from -o name) → `<id>`. */
export function stripKind(ref: string, kind: string): string {
  return ref.startsWith(`${kind}/`) ? ref.slice(kind.length + 1) : ref;
}

/** A run by id (raw, Relay, run/<id>) or by Sprite name (its only run); NotFound → exit 3, several → exit 4. */
export async function resolveRun(api: Api, ref: string, extra = ""): Promise<RunView> {
  const id = stripKind(ref, "run");
  const byId = await api.request<{ run: Typed & Partial<RunView> }>(`query($id: ID!) { run(id: $id) { __typename ... on Run { ${RUN_FIELDS} ${extra} } } }`, { id });
  if (byId.run.__typename === "Run") return byId.run as RunView;
  const bySprite = await api.request<{ sprite: Typed & { runs?: { edges: { node: RunView }[] } } }>(
    `query($n: String!) { sprite(name: $n) { __typename ... on Sprite { runs(first: 2) { edges { node { ${RUN_FIELDS} ${extra} } } } } } }`,
    { n: stripKind(ref, "sprite") },
  );
  const runs = bySprite.sprite.runs?.edges ?? [];
  if (bySprite.sprite.__typename !== "Sprite" || runs.length === 0) throw new CliError(`no run or Sprite named ${ref}`, EXIT.notFound, "NotFound", { ref });
  if (runs.length > 1) throw new CliError(`Sprite ${ref} has several runs: name one by its run id`, EXIT.ambiguous, "AmbiguousRef", { ref });
  return runs[0].node;
}

/** Raw uuid of a Relay or raw id (tables show the raw one: shorter, and what the logs say). */
export function rawId(id: string): string {
  try {
    const decoded = Buffer.from(id, "base64").toString("utf8");
    const at = decoded.indexOf(":");
    if (at > 0 && /^[A-Za-z]+$/.test(decoded.slice(0, at))) return decoded.slice(at + 1);
  } catch {
    // raw already
  }
  return id;
}
