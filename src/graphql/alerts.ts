import { z } from "zod";
import { alertSecretPolicy, alertsConfigSchema, missingSecrets, routingSchema, sinkSchema, type AlertsConfig } from "../alerts/config";
import { readAlertsConfig, writeAlertsConfig } from "../alerts/store";
import type { App } from "../app";
import { builder } from "./builder";
import { hasRole } from "../auth/principal";
import { InvalidInputError, NotFoundError, UnauthorizedError } from "../errors";

// Alerts over GraphQL: the sinks and routing (admin writes; env var names only, never secrets), the deliveries
// with their attempts (dead letters included), and testAlertSink.

interface DeliveryRow {
  id: string;
  episodeId: string | null;
  sink: string;
  event: string;
  condition: string;
  severity: string;
  dedupKey: string;
  traceId: string;
  payload: unknown;
  status: "PENDING" | "DELIVERED" | "DEAD";
  attempts: number;
  createdAt: Date;
  nextAttemptAt: Date;
  firstAttemptAt: Date | null;
  deliveredAt: Date | null;
  lastStatus: number | null;
  lastError: string | null;
  attemptLog: unknown;
}
interface AttemptRow {
  n: number;
  startedAt: Date;
  latencyMs: number;
  httpStatus: number | null;
  error: string | null;
  outcome: string;
}

const DeliveryStatusEnum = builder.enumType("AlertDeliveryStatus", {
  values: {
    PENDING: { description: "Not delivered yet: waiting for its first attempt, a retry or the end of quiet hours" },
    DELIVERED: { description: "A sink answered 2xx" },
    DEAD: { description: "Dead letter: gave up (too old, a final 4xx, or the sink's secret is unset)" },
  },
});

/** AlertDelivery.attemptLog as src/alerts/store.ts recordAttempts appends it. */
const attemptLogSchema = z.array(
  z.object({
    n: z.number().int(),
    startedAt: z.coerce.date(),
    latencyMs: z.number().int(),
    httpStatus: z.number().int().nullable(),
    error: z.string().nullable(),
    outcome: z.string(),
  }),
);

const AttemptRef = builder.objectRef<AttemptRow>("AlertAttempt").implement({
  fields: (t) => ({
    n: t.exposeInt("n"),
    startedAt: t.expose("startedAt", { type: "DateTime" }),
    latencyMs: t.exposeInt("latencyMs"),
    httpStatus: t.exposeInt("httpStatus", { nullable: true }),
    error: t.exposeString("error", { nullable: true }),
    outcome: t.exposeString("outcome", { description: "delivered | retry | dead" }),
  }),
});

const DeliveryRef = builder.objectRef<DeliveryRow>("AlertDelivery").implement({
  fields: (t) => ({
    id: t.exposeString("id"),
    sink: t.exposeString("sink"),
    event: t.exposeString("event", { description: "trigger | reminder | resolve | test" }),
    condition: t.exposeString("condition"),
    severity: t.exposeString("severity"),
    dedupKey: t.exposeString("dedupKey"),
    traceId: t.exposeString("traceId"),
    payload: t.field({ type: "JSON", resolve: (d) => d.payload }),
    status: t.field({ type: DeliveryStatusEnum, resolve: (d) => d.status }),
    attempts: t.exposeInt("attempts"),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    nextAttemptAt: t.expose("nextAttemptAt", { type: "DateTime" }),
    firstAttemptAt: t.expose("firstAttemptAt", { type: "DateTime", nullable: true }),
    deliveredAt: t.expose("deliveredAt", { type: "DateTime", nullable: true }),
    lastStatus: t.exposeInt("lastStatus", { nullable: true }),
    lastError: t.exposeString("lastError", { nullable: true }),
    attemptLog: t.field({ type: [AttemptRef], resolve: (d) => attemptLogSchema.parse(d.attemptLog) }),
  }),
});

interface ConfigView {
  config: AlertsConfig;
  source: string | null;
  updatedAt: Date | null;
}
const ConfigRef = builder.objectRef<ConfigView>("AlertConfig").implement({
  fields: (t) => ({
    config: t.field({ type: "JSON", description: "sinks (env var names only), routing and delivery settings", resolve: (c) => c.config }),
    source: t.exposeString("source", { nullable: true, description: "fleet-file | graphql; null = never configured" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime", nullable: true }),
    problems: t.stringList({
      description: "Enabled sinks whose secret variable is unset in this process's environment",
      resolve: (c, _a, ctx) => missingSecrets(c.config, process.env, "alerts", alertSecretPolicy(ctx.app.config)).map((i) => `${i.path}: ${i.message}`),
    }),
  }),
});

interface TestView {
  deliveryId: string;
  delivered: boolean;
  status: "PENDING" | "DELIVERED" | "DEAD";
  httpStatus: number | null;
  error: string | null;
  latencyMs: number;
}
const TestRef = builder.objectRef<TestView>("AlertSinkTest").implement({
  fields: (t) => ({
    deliveryId: t.exposeString("deliveryId"),
    delivered: t.exposeBoolean("delivered"),
    status: t.field({ type: DeliveryStatusEnum, resolve: (r) => r.status }),
    httpStatus: t.exposeInt("httpStatus", { nullable: true }),
    error: t.exposeString("error", { nullable: true }),
    latencyMs: t.exposeInt("latencyMs"),
  }),
});

const DELIVERY_COLUMNS = `id, "episodeId", sink, event, condition, severity, "dedupKey", "traceId", payload, status, attempts, "createdAt", "nextAttemptAt", "firstAttemptAt", "deliveredAt", "lastStatus", "lastError", "attemptLog"`;

builder.queryFields((t) => ({
  alertConfig: t.field({
    type: ConfigRef,
    description: "Alert sinks and routing (viewer; holds env var names, never secrets)",
    resolve: (_r, _a, ctx) => readAlertsConfig(ctx.app.pool),
  }),
  alertDeliveries: t.field({
    type: [DeliveryRef],
    description: "Alert deliveries, newest first; status DEAD lists the dead letters",
    args: {
      status: t.arg({ type: DeliveryStatusEnum, required: false }),
      sink: t.arg.string({ required: false }),
      dedupKey: t.arg.string({ required: false }),
      first: t.arg.int({ required: false, validate: { min: 1, max: 1000 } }),
    },
    resolve: async (_r, a, ctx) =>
      (
        await ctx.app.pool.query<DeliveryRow>(
          `SELECT ${DELIVERY_COLUMNS} FROM "AlertDelivery"
            WHERE ($1::text IS NULL OR status::text = $1) AND ($2::text IS NULL OR sink = $2) AND ($3::text IS NULL OR "dedupKey" = $3)
            ORDER BY seq DESC LIMIT $4`,
          [a.status ?? null, a.sink ?? null, a.dedupKey ?? null, a.first ?? 100],
        )
      ).rows,
  }),
}));

async function updateConfig(app: App, change: (c: AlertsConfig) => unknown, field: string): Promise<ConfigView> {
  const current = await readAlertsConfig(app.pool);
  const parsed = alertsConfigSchema.safeParse(change(structuredClone(current.config)));
  if (!parsed.success) throw new InvalidInputError(field, parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  const missing = missingSecrets(parsed.data, process.env, "alerts", alertSecretPolicy(app.config));
  if (missing.length) throw new InvalidInputError(field, missing.map((i) => `${i.path}: ${i.message}`).join("; "));
  await writeAlertsConfig(app.pool, parsed.data, "graphql");
  app.alerts?.invalidateConfig();
  return readAlertsConfig(app.pool);
}

function requireAdmin(ctx: { principal: Parameters<typeof hasRole>[0] }): void {
  if (!hasRole(ctx.principal, "admin")) throw new UnauthorizedError("admin");
}

builder.mutationFields((t) => ({
  setAlertSink: t.field({
    type: ConfigRef,
    description: "Create or replace one alert sink (admin). Secrets are env var names; an enabled sink whose variable is unset is refused",
    errors: { types: [UnauthorizedError, InvalidInputError] },
    args: { name: t.arg.string({ required: true }), sink: t.arg({ type: "JSON", required: true }) },
    resolve: async (_r, { name, sink }, ctx) => {
      requireAdmin(ctx);
      const s = sinkSchema.safeParse(sink);
      if (!s.success) throw new InvalidInputError("sink", s.error.issues.map((i) => `${i.path.join(".") || "(sink)"}: ${i.message}`).join("; "));
      return updateConfig(ctx.app, (c) => ({ ...c, sinks: { ...c.sinks, [name]: s.data } }), "sink");
    },
  }),
  removeAlertSink: t.field({
    type: ConfigRef,
    description: "Remove an alert sink and every route's reference to it (admin)",
    errors: { types: [UnauthorizedError, NotFoundError, InvalidInputError] },
    args: { name: t.arg.string({ required: true }) },
    resolve: async (_r, { name }, ctx) => {
      requireAdmin(ctx);
      const current = await readAlertsConfig(ctx.app.pool);
      if (!current.config.sinks[name]) throw new NotFoundError("AlertSink", name);
      return updateConfig(
        ctx.app,
        (c) => {
          const { [name]: _gone, ...sinks } = c.sinks;
          return {
            ...c,
            sinks,
            routing: {
              ...c.routing,
              defaultSinks: c.routing.defaultSinks.filter((s) => s !== name),
              routes: c.routing.routes.map((r) => ({ ...r, sinks: r.sinks.filter((s) => s !== name) })).filter((r) => r.sinks.length > 0),
            },
          };
        },
        "name",
      );
    },
  }),
  setAlertRouting: t.field({
    type: ConfigRef,
    description: "Replace the alert routing (admin): defaultSinks, categorySeverity, routes, reminderMinutes, quietHours",
    errors: { types: [UnauthorizedError, InvalidInputError] },
    args: { routing: t.arg({ type: "JSON", required: true }), defaultMinSeverity: t.arg.string({ required: false }) },
    resolve: async (_r, { routing, defaultMinSeverity }, ctx) => {
      requireAdmin(ctx);
      const r = routingSchema.safeParse(routing);
      if (!r.success) throw new InvalidInputError("routing", r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
      return updateConfig(ctx.app, (c) => ({ ...c, routing: r.data, ...(defaultMinSeverity ? { defaultMinSeverity } : {}) }), "routing");
    },
  }),
  testAlertSink: t.field({
    type: TestRef,
    description: 'Send a test message to one sink now (admin); recorded as a delivery with event "test"',
    errors: { types: [UnauthorizedError, NotFoundError] },
    args: { name: t.arg.string({ required: true }) },
    resolve: async (_r, { name }, ctx) => {
      requireAdmin(ctx);
      const current = await readAlertsConfig(ctx.app.pool);
      if (!current.config.sinks[name] || !ctx.app.alerts) throw new NotFoundError("AlertSink", name);
      const r = await ctx.app.alerts.test(name);
      return { ...r, status: r.status as TestView["status"] };
    },
  }),
  retryAlertDelivery: t.field({
    type: DeliveryRef,
    description: "Put a dead-lettered delivery back in the queue (admin)",
    errors: { types: [UnauthorizedError, NotFoundError] },
    args: { id: t.arg.string({ required: true }) },
    resolve: async (_r, { id }, ctx) => {
      requireAdmin(ctx);
      const res = await ctx.app.pool.query<DeliveryRow>(
        `UPDATE "AlertDelivery" SET status = 'PENDING', "nextAttemptAt" = clock_timestamp(), "createdAt" = clock_timestamp() WHERE id = $1 AND status = 'DEAD' RETURNING ${DELIVERY_COLUMNS}`,
        [id],
      );
      if (!res.rows[0]) throw new NotFoundError("dead AlertDelivery", id);
      ctx.app.alerts?.wake();
      return res.rows[0];
    },
  }),
}));
