import { z } from "zod";
import type { Config } from "../config/config";
import { envVarNameSchema } from "../transports/config";
import { parseList } from "../security/request-guards";
import { secretEnvPolicy } from "../security/secret-env";

// The alert sinks and routing, in the fleet file under "alerts" or set through the admin mutations. The shape
// follows the bash ops manager's config/ops-manager-alert-sinks.v1.json (sinks by name with `type`, `urlEnv`,
// `authTokenEnv`, `routingKeyEnv`, `timeoutSeconds`; routing with `defaultSinks`, `categorySeverity`, `routes`),
// extended with signing, selectors, quiet hours, reminders and retry settings. Secrets are only ever env var
// NAMES: the values are read when a message is sent, never stored.

export const SEVERITIES = ["info", "warning", "critical"] as const;
export type Severity = (typeof SEVERITIES)[number];
export const severityRank = (s: Severity): number => SEVERITIES.indexOf(s);

/** Every condition the detectors raise (src/alerts/conditions.ts); routes name them as `category`. */
export const CONDITIONS = [
  "awaiting_approval",
  "run_failed",
  "run_stopped",
  "run_stale",
  "cursor_fork",
  "ingest_error",
  "transport_unreachable",
  "divergence_detected",
  "health_degraded",
  "health_critical",
  "intent_ambiguous",
  "intent_failed",
  "sprite_missing",
  "sprite_unreachable",
  "recovery_escalation",
  "policy_action",
  "test",
] as const;
export type ConditionName = (typeof CONDITIONS)[number];

const httpUrl = z.url({ protocol: /^https?$/ });
const timeoutSeconds = z.number().min(0.1).max(120).optional();
const headers = z.record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/), z.string().max(1024)).optional();

const webhookSink = z
  .strictObject({
    type: z.literal("webhook"),
    enabled: z.boolean().default(true),
    url: httpUrl.optional(),
    urlEnv: envVarNameSchema.optional(),
    authTokenEnv: envVarNameSchema.optional(),
    signingSecretEnv: envVarNameSchema.optional(),
    timeoutSeconds,
    headers,
  })
  .refine((s) => (s.url === undefined) !== (s.urlEnv === undefined), { error: "give url or urlEnv (exactly one)", path: ["url"] });

const slackSink = z
  .strictObject({
    type: z.literal("slack"),
    enabled: z.boolean().default(true),
    webhookUrl: httpUrl.optional(),
    webhookUrlEnv: envVarNameSchema.optional(),
    channel: z.string().max(80).optional(),
    username: z.string().max(80).optional(),
    iconEmoji: z.string().max(80).optional(),
    timeoutSeconds,
  })
  .refine((s) => (s.webhookUrl === undefined) !== (s.webhookUrlEnv === undefined), {
    error: "give webhookUrl or webhookUrlEnv (exactly one)",
    path: ["webhookUrlEnv"],
  });

const pagerdutySink = z.strictObject({
  // "pagerduty_events" is the bash manager's name for the same sink.
  type: z.enum(["pagerduty", "pagerduty_events"]),
  enabled: z.boolean().default(true),
  routingKeyEnv: envVarNameSchema,
  /** Events API v2 endpoint; a local receiver in tests. */
  url: httpUrl.default("https://events.pagerduty.com/v2/enqueue"),
  source: z.string().max(255).default("superloop-ops"),
  component: z.string().max(255).optional(),
  group: z.string().max(255).optional(),
  class: z.string().max(255).optional(),
  timeoutSeconds,
});

export const sinkSchema = z.discriminatedUnion("type", [webhookSink, slackSink, pagerdutySink]);
export type SinkConfig = z.infer<typeof sinkSchema>;

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, "HH:MM (24 h)");
export const quietHoursSchema = z.strictObject({
  start: hhmm,
  end: hhmm,
  /** IANA zone; UTC by default */
  timezone: z
    .string()
    .refine((tz) => {
      try {
        new Intl.DateTimeFormat("en-US", { timeZone: tz });
        return true;
      } catch {
        return false;
      }
    }, "unknown time zone")
    .default("UTC"),
  /** Alerts at or above this severity are sent anyway; lower ones wait until the quiet hours end. */
  allowSeverity: z.enum(SEVERITIES).default("critical"),
});
export type QuietHours = z.infer<typeof quietHoursSchema>;

const sinkName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "letters, digits, . _ - (at most 64)");
const category = z.union([z.enum(CONDITIONS), z.literal("*")]);

export const routeSchema = z.strictObject({
  category: z.union([category, z.array(category).min(1)]).default("*"),
  sinks: z.array(sinkName).min(1),
  minSeverity: z.enum(SEVERITIES).optional(),
  enabled: z.boolean().default(true),
  /** Sprite name globs (`*` wildcard); absent = every Sprite. */
  sprites: z.array(z.string().min(1).max(128)).optional(),
  /** Sprite labels that must all match (only for Sprites that carry labels). */
  labels: z.record(z.string(), z.string()).optional(),
  quietHours: quietHoursSchema.optional(),
  /** Re-send an open condition after this many minutes; 0/absent = never. */
  reminderMinutes: z.number().min(0).max(10_080).optional(),
});
export type Route = z.infer<typeof routeSchema>;

export const routingSchema = z.strictObject({
  defaultSinks: z.array(sinkName).default([]),
  categorySeverity: z.partialRecord(z.enum(CONDITIONS), z.enum(SEVERITIES)).default({}),
  routes: z.array(routeSchema).default([]),
  reminderMinutes: z.number().min(0).max(10_080).default(0),
  quietHours: quietHoursSchema.optional(),
});
export type Routing = z.infer<typeof routingSchema>;

export const deliverySettingsSchema = z.strictObject({
  /** First retry delay; doubles per attempt (with jitter) up to maxBackoffMs. */
  baseBackoffMs: z.number().int().min(10).max(600_000).default(1000),
  maxBackoffMs: z.number().int().min(100).max(3_600_000).default(300_000),
  /** A delivery still failing this long after it was raised is dead-lettered. */
  deadLetterAfterSeconds: z
    .number()
    .min(1)
    .max(30 * 86_400)
    .default(86_400),
  defaultTimeoutSeconds: z.number().min(0.1).max(120).default(5),
  /** Sends in flight at once (all sinks). */
  concurrency: z.number().int().min(1).max(512).default(32),
});

export const conditionSettingsSchema = z.strictObject({
  /** recovery_escalation: this many START/RESTART attempts within windowMinutes and the run still down */
  recoveryEscalation: z.strictObject({ attempts: z.number().int().min(1).max(100).default(3), windowMinutes: z.number().min(1).max(1440).default(60) }).default({ attempts: 3, windowMinutes: 60 }),
});

export const alertsConfigSchema = z
  .strictObject({
    schemaVersion: z.literal("v1").optional(),
    defaultMinSeverity: z.enum(SEVERITIES).default("warning"),
    sinks: z.record(sinkName, sinkSchema).default({}),
    routing: routingSchema.default({ defaultSinks: [], categorySeverity: {}, routes: [], reminderMinutes: 0 }),
    delivery: deliverySettingsSchema.default({ baseBackoffMs: 1000, maxBackoffMs: 300_000, deadLetterAfterSeconds: 86_400, defaultTimeoutSeconds: 5, concurrency: 32 }),
    conditions: conditionSettingsSchema.default({ recoveryEscalation: { attempts: 3, windowMinutes: 60 } }),
  })
  .superRefine((c, ctx) => {
    const known = new Set(Object.keys(c.sinks));
    c.routing.defaultSinks.forEach((s, i) => {
      if (!known.has(s)) ctx.addIssue({ code: "custom", path: ["routing", "defaultSinks", i], message: `no sink named ${s}` });
    });
    c.routing.routes.forEach((r, i) =>
      r.sinks.forEach((s, j) => {
        if (!known.has(s)) ctx.addIssue({ code: "custom", path: ["routing", "routes", i, "sinks", j], message: `no sink named ${s}` });
      }),
    );
  });
export type AlertsConfig = z.infer<typeof alertsConfigSchema>;
export type AlertsConfigInput = z.input<typeof alertsConfigSchema>;

export const EMPTY_ALERTS_CONFIG: AlertsConfig = alertsConfigSchema.parse({});

/** The env var names a sink reads: [field, name, required]. */
export function secretVars(sink: SinkConfig): [string, string, boolean][] {
  switch (sink.type) {
    case "webhook":
      return [
        ["urlEnv", sink.urlEnv, true],
        ["authTokenEnv", sink.authTokenEnv, true],
        ["signingSecretEnv", sink.signingSecretEnv, true],
      ].filter((x): x is [string, string, boolean] => typeof x[1] === "string");
    case "slack":
      return sink.webhookUrlEnv ? [["webhookUrlEnv", sink.webhookUrlEnv, true]] : [];
    default:
      return [["routingKeyEnv", sink.routingKeyEnv, true]];
  }
}

export interface ConfigIssue {
  path: string;
  message: string;
}

/** Which env var names may hold a secret that is sent out (src/security/secret-env.ts): null = any. */
export interface SecretNamePolicy {
  refuse(name: string): string | null;
}

/**
 * An enabled sink whose secret variable is unset (or empty) cannot send: a load error naming the variable. Every
 * named variable (enabled or not) must also pass the secret-name policy: a sink's URL is the admin's choice, so
 * naming e.g. OPS_TOKENS would ship the manager's own secrets to it.
 */
export function missingSecrets(config: AlertsConfig, env: NodeJS.ProcessEnv, prefix = "alerts", policy: SecretNamePolicy | null = null): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const [name, sink] of Object.entries(config.sinks)) {
    for (const [field, variable] of secretVars(sink)) {
      const why = policy?.refuse(variable) ?? null;
      if (why) out.push({ path: `${prefix}.sinks.${name}.${field}`, message: why });
      else if (sink.enabled && !env[variable]) out.push({ path: `${prefix}.sinks.${name}.${field}`, message: `environment variable ${variable} is not set (sink ${name} is enabled)` });
    }
  }
  return out;
}

/** Parses and checks secrets; every problem comes back with its JSON path. */
export function parseAlertsConfig(
  raw: unknown,
  env: NodeJS.ProcessEnv,
  prefix = "alerts",
  policy: SecretNamePolicy | null = null,
): { ok: true; config: AlertsConfig } | { ok: false; errors: ConfigIssue[] } {
  const parsed = alertsConfigSchema.safeParse(raw);
  if (!parsed.success) {
    return {
      ok: false,
      errors: parsed.error.issues.map((i) => ({ path: [prefix, ...i.path.map((p) => (typeof p === "number" ? `[${p}]` : String(p)))].join(".").replace(/\.\[/g, "["), message: i.message })),
    };
  }
  const missing = missingSecrets(parsed.data, env, prefix, policy);
  return missing.length ? { ok: false, errors: missing } : { ok: true, config: parsed.data };
}

/** The manager's secret-name policy (OPS_SECRET_ENV_PREFIXES), shared with Sprite token variables. */
export function alertSecretPolicy(config: Pick<Config, "OPS_SECRET_ENV_PREFIXES">): SecretNamePolicy {
  return secretEnvPolicy(config.OPS_SECRET_ENV_PREFIXES === undefined ? undefined : parseList(config.OPS_SECRET_ENV_PREFIXES));
}
