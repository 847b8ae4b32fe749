import type { Logger } from "../util/log";
import { alertAttemptSeconds, alertDeliveries, alertQueueSeconds, alertRetries } from "../observability/metrics";
import { secretVars, type AlertsConfig, type SecretNamePolicy, type SinkConfig } from "./config";
import { post as postInProcess, PostTimeout } from "./http-post";
import { buildRequest, MissingSecretError, type AlertMessage } from "./messages";
import type { PostFn } from "./poster";
import { backoffMs, classify } from "./retry";
import type { AttemptResult, ClaimedDelivery } from "./store";

// One attempt of one claimed delivery: build the sink's request, send it with the sink's timeout, classify the
// answer (delivered, retry after backoff, dead letter) and count it. The caller records the result.

export interface SendContext {
  config: AlertsConfig;
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** which env var names may be sent out (OPS_SECRET_ENV_PREFIXES): checked again at send time */
  secretPolicy?: SecretNamePolicy;
  /** how the POST is made (the dispatcher's sender thread); in-process by default */
  post?: PostFn;
}

export const sinkTimeoutMs = (config: AlertsConfig, sink: SinkConfig | undefined): number => Math.round((sink?.timeoutSeconds ?? config.delivery.defaultTimeoutSeconds) * 1000);

export async function sendDelivery(row: ClaimedDelivery, ctx: SendContext): Promise<AttemptResult> {
  const { config } = ctx;
  const startedAt = new Date();
  if (row.firstAttempt) alertQueueSeconds.observe(Math.max(0, startedAt.getTime() - new Date(row.createdAt).getTime()) / 1000);
  const t0 = performance.now();
  const base = { id: row.id, n: row.attempts, startedAt };
  const finish = (outcome: AttemptResult["outcome"], httpStatus: number | null, error: string | null, retryAfterMs: number | null = null): AttemptResult => {
    const latencyMs = Math.round(performance.now() - t0);
    alertAttemptSeconds.observe({ sink: row.sink }, latencyMs / 1000);
    let next: Date | null = null;
    if (outcome === "retry") {
      const wait = backoffMs(row.attempts, config.delivery.baseBackoffMs, config.delivery.maxBackoffMs, retryAfterMs);
      next = new Date(Date.now() + wait);
      if (next.getTime() - new Date(row.createdAt).getTime() > config.delivery.deadLetterAfterSeconds * 1000) {
        outcome = "dead";
        error = `dead-lettered after ${row.attempts} attempts (older than ${config.delivery.deadLetterAfterSeconds} s): ${error ?? `HTTP ${httpStatus}`}`;
        next = null;
      } else alertRetries.inc({ sink: row.sink });
    }
    alertDeliveries.inc({ sink: row.sink, outcome });
    if (outcome === "dead") ctx.log.error("alert dead-lettered", { deliveryId: row.id, sink: row.sink, error, traceId: (row.payload as AlertMessage).traceId });
    return { ...base, latencyMs, httpStatus, error, outcome, nextAttemptAt: next };
  };
  const sink = config.sinks[row.sink];
  if (!sink) return finish("dead", null, `sink ${row.sink} is no longer configured`);
  if (!sink.enabled) return finish("dead", null, `sink ${row.sink} is disabled`);
  // A config stored before the policy was tightened must not send what the policy now forbids.
  for (const [field, variable] of secretVars(sink)) {
    const why = ctx.secretPolicy?.refuse(variable);
    if (why) return finish("dead", null, `sink ${row.sink}.${field}: ${why}`);
  }
  let req;
  try {
    req = buildRequest(sink, row.payload as AlertMessage, ctx.env, Math.floor(Date.now() / 1000));
  } catch (e) {
    if (e instanceof MissingSecretError) return finish("dead", null, `sink ${row.sink}: ${e.message}`);
    throw e;
  }
  try {
    const res = await (ctx.post ?? postInProcess)(req.url, req.headers, req.body, sinkTimeoutMs(config, sink));
    const c = classify(res.status, res.retryAfter);
    if (c.kind === "delivered") return finish("delivered", res.status, null);
    if (c.kind === "retry") return finish("retry", res.status, `HTTP ${res.status}`, c.retryAfterMs);
    return finish("dead", res.status, `HTTP ${res.status} (not retried)`);
  } catch (e) {
    const err = e as Error & { code?: string };
    const msg = err instanceof PostTimeout ? `timed out after ${sinkTimeoutMs(config, sink)} ms` : `${err.code ?? err.name}: ${err.message}`;
    return finish("retry", null, msg);
  }
}
