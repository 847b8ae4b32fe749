import { z } from "zod";
import { destinationListPattern } from "../security/destinations";
import { queryLimitsSpec } from "../security/query-limits";

// Every setting comes from the environment, validated once at start-up. The table in `--help` and the
// README is generated from `settings`, so the three never disagree.
export interface Setting {
  name: string;
  schema: z.ZodType;
  help: string;
}

const port = z.coerce.number().int().min(0).max(65535);
const positiveMs = z.coerce.number().int().min(10);
const bool = z.enum(["1", "0", "true", "false", "yes", "no", ""]).transform((v) => v === "1" || v === "true" || v === "yes");

export const settings = {
  PORT: { schema: port.default(4000), help: "HTTP port for GraphQL, SSE, graphql-ws, /health and /ready (0 = any free port)" },
  HOST: { schema: z.string().min(1).default("127.0.0.1"), help: "Interface to bind. Without OPS_TOKENS the server refuses anything but loopback" },
  DATABASE_URL: {
    schema: z
      .string()
      .regex(/^postgres(ql)?:\/\//, "must be a postgresql:// URL")
      .optional(),
    help: "PostgreSQL server to use. Unset: an embedded PostgreSQL is started under OPS_DATA_DIR/pg",
  },
  OPS_DATA_DIR: { schema: z.string().min(1).default("./data"), help: "Where the embedded database and agent state live" },
  OPS_PG_RUNTIME_DIR: {
    schema: z.string().min(1).default("/var/lib/superloop-ops"),
    help: "Only as root with the embedded database: when the unprivileged postgres user cannot reach the checkout (a 0700 home or temp dir), the PostgreSQL binaries are copied here and a new cluster's data kept here (OPS_DATA_DIR/pg links to it)",
  },
  OPS_POLL_INTERVAL_MS: { schema: positiveMs.default(2000), help: "How often each run is polled (jittered; backs off on errors)" },
  OPS_STALE_AFTER_MS: { schema: positiveMs.default(300_000), help: "A RUNNING run with no event for this long is reported stale" },
  OPS_INTENT_DEADLINE_MS: { schema: positiveMs.default(60_000), help: "How long a control intent waits for evidence before it is AMBIGUOUS" },
  OPS_INTENT_DEADLINES_MS: {
    schema: z
      .string()
      .regex(/^(CANCEL|APPROVE|REJECT|PAUSE|RESUME|START)=\d+(,(CANCEL|APPROVE|REJECT|PAUSE|RESUME|START)=\d+)*$/, "expected KIND=milliseconds,... (kinds: CANCEL APPROVE REJECT PAUSE RESUME START)")
      .optional(),
    help: "Per-intent deadlines on top of OPS_INTENT_DEADLINE_MS, e.g. APPROVE=180000,START=30000",
  },
  OPS_HEALTH_PROFILE: { schema: z.enum(["strict", "balanced", "relaxed"]).default("balanced"), help: "Default health threshold profile" },
  OPS_TOKENS: {
    schema: z.string().optional(),
    help: "API tokens: name:role:token,... with role viewer | operator | admin. Unset: open, loopback only",
  },
  OPS_ALLOWED_ORIGINS: {
    schema: z
      .string()
      .regex(/^(https?:\/\/[^\s,/*]+)(,https?:\/\/[^\s,/*]+)*$/, "expected scheme://host[:port],... (no wildcards)")
      .optional(),
    help: "Browser origins allowed to call the API (CORS, graphql-ws) besides the server's own. Unset: same origin only",
  },
  OPS_ALLOWED_HOSTS: {
    schema: z
      .string()
      .regex(/^[A-Za-z0-9.[\]:-]+(,[A-Za-z0-9.[\]:-]+)*$/, "expected host names separated by commas")
      .optional(),
    help: "On a loopback bind, Host header names accepted besides localhost, 127.0.0.1 and [::1] (DNS-rebinding guard)",
  },
  OPS_MAX_REQUEST_BYTES: {
    schema: z.coerce
      .number()
      .int()
      .min(1024)
      .default(512 * 1024),
    help: "Largest request body (and graphql-ws message) accepted; larger ones get 413 before they are read",
  },
  OPS_QUERY_LIMITS: {
    schema: queryLimitsSpec.optional(),
    help: "Overrides of the per-document limits checked before validation, e.g. cost=20000,aliases=10 (keys: tokens depth aliases fields directives cost; defaults tokens=30000 depth=20 aliases=50 fields=1000 directives=50 cost=50000)",
  },
  OPS_SECRET_ENV_PREFIXES: {
    schema: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*(,[A-Z_][A-Z0-9_]*)*$/, "expected NAME_PREFIX,... (upper case, digits, _)")
      .default("OPS_SECRET_,SPRITES_TOKEN"),
    help: "Prefixes a Sprite's agentTokenEnv/spritesApiTokenEnv must start with; the manager's own settings (OPS_TOKENS, DATABASE_URL, ...) are refused whatever the prefixes",
  },
  OPS_AGENT_URL_ALLOW: {
    schema: z.string().regex(destinationListPattern, "expected CIDRs, addresses or host names separated by commas").optional(),
    help: "If set, the only destinations an agentUrl may name or resolve to (CIDRs, addresses, host names). Unset: anything but OPS_AGENT_URL_DENY",
  },
  OPS_AGENT_URL_DENY: {
    schema: z.string().regex(destinationListPattern, "expected CIDRs, addresses or host names separated by commas").optional(),
    help: "Destinations an agentUrl may never name or resolve to, on top of link-local (cloud metadata), 0.0.0.0/8, multicast and metadata host names",
  },
  OPS_CONTROL_MODE: { schema: z.enum(["enabled", "disabled"]).default("enabled"), help: "disabled = passive mode: observe everything, refuse every control intent" },
  OTEL_EXPORTER_OTLP_ENDPOINT: {
    schema: z.url({ protocol: /^https?$/ }).optional(),
    help: "If set, OpenTelemetry traces are exported over OTLP/HTTP (JSON) to <this>/v1/traces (OTEL_EXPORTER_OTLP_HEADERS is honoured)",
  },
  OTEL_SERVICE_NAME: { schema: z.string().min(1).max(200).default("superloop-ops"), help: "service.name of the exported traces" },
  OPS_METRICS_TOKEN: { schema: z.string().min(16, "at least 16 characters").optional(), help: "If set, GET /metrics needs Authorization: Bearer <this token>" },
  OPS_FLEET_FILE: { schema: z.string().optional(), help: "JSON fleet file loaded at start-up and on SIGHUP" },
  OPS_DEMO: { schema: bool.default(false), help: "Register the demo fleet driven by the built-in runtime simulator (same as --demo)" },
  SUPERLOOP_BIN: { schema: z.string().min(1).default("superloop.sh"), help: "The Superloop CLI used by the local transport for control intents" },
  SPRITES_API_URL: { schema: z.url().default("https://api.sprites.dev"), help: "Base URL of the Fly.io Sprites API" },
  OPS_CLUSTER: {
    schema: z.enum(["on", "off"]).optional(),
    help: "on = leases (one replica polls each run) and LISTEN/NOTIFY fan-out, so several replicas can share DATABASE_URL; off = one process, in-process fan-out only. Default: on with DATABASE_URL, off with the embedded database (no other replica can reach it)",
  },
  OPS_REPLICA_ID: {
    schema: z
      .string()
      .regex(/^[A-Za-z0-9._:@-]{1,49}$/, "letters, digits and . _ : @ - only (at most 49)")
      .optional(),
    help: "This replica's name in leases and /ready; must be unique among live replicas. Default: hostname-pid",
  },
  OPS_LEASE_TTL_MS: { schema: z.coerce.number().int().min(500).default(10_000), help: "A run lease not renewed for this long expires; a dead replica's runs move within about this time" },
  OPS_LEASE_RENEW_MS: { schema: z.coerce.number().int().min(100).default(3000), help: "How often a replica renews its leases, heartbeats and rebalances (at most half of OPS_LEASE_TTL_MS)" },
  OPS_LEASE_SLACK: { schema: z.coerce.number().int().min(0).max(1000).default(1), help: "Runs a replica may hold above its fair share ceil(runs / live replicas)" },
  OPS_PG_POOL_MAX: {
    schema: z.coerce.number().int().min(2).max(500).default(10),
    help: "Connections in the ingest/lease pool (per replica; up to a quarter for catch-up pages COPYed ahead of their commit; Prisma keeps 10 more, LISTEN 1)",
  },
  OPS_POLICY_TICK_MS: { schema: positiveMs.default(5000), help: "How often the policy engine evaluates its rules (one replica at a time, under a lease)" },
  OPS_POLICY_KILL_SWITCH: { schema: bool.default(false), help: "1 = no policy acts automatically (candidates are still proposed), whatever the policy or the kill-switch mutation says" },
  OPS_RETENTION_INTERVAL_MS: { schema: z.coerce.number().int().min(100).default(60_000), help: "How often the retention worker prunes events its policies allow (see Retention)" },
  OPS_RETENTION_BATCH: {
    schema: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
    help: "At most this many events pruned per retention pass (DELETEs of 1,000, each its own short transaction)",
  },
  OPS_ARCHIVE_DIR: { schema: z.string().min(1).optional(), help: "Where archiveRun writes run archives (gzipped JSONL). Default: OPS_DATA_DIR/archive" },
  LOG_LEVEL: { schema: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"), help: "Log verbosity" },
} satisfies Record<string, Omit<Setting, "name">>;

type Settings = typeof settings;
export type Config = { [K in keyof Settings]: z.output<Settings[K]["schema"]> };

export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid configuration:\n${issues.map((i) => `  - ${i}`).join("\n")}`);
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const issues: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(settings)) {
    const raw = env[name];
    const parsed = setting.schema.safeParse(raw === "" && name !== "OPS_DEMO" ? undefined : raw);
    if (parsed.success) out[name] = parsed.data;
    else issues.push(`${name}: ${parsed.error.issues.map((i) => i.message).join("; ")}`);
  }
  if (!issues.length && (out.OPS_LEASE_RENEW_MS as number) * 2 > (out.OPS_LEASE_TTL_MS as number)) {
    issues.push("OPS_LEASE_RENEW_MS: must be at most half of OPS_LEASE_TTL_MS, or a slow renewal loses leases");
  }
  if (issues.length) throw new ConfigError(issues);
  return out as Config;
}

export function configHelp(): string {
  const rows = Object.entries(settings).map(([name, s]) => {
    const d = s.schema.safeParse(undefined);
    const def = d.success && d.data !== undefined ? String(d.data) : "(unset)";
    return `  ${name.padEnd(24)} ${s.help}\n  ${"".padEnd(24)} default: ${def}`;
  });
  return rows.join("\n");
}
