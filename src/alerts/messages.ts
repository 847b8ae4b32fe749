import { createHmac } from "node:crypto";
import type { ConditionName, Severity, SinkConfig } from "./config";

// What each sink kind receives, pure: the JSON body, headers and URL for one alert message. Secrets come from
// the environment at send time (the config only names the variables).

export type AlertEvent = "trigger" | "reminder" | "resolve" | "test";

export interface AlertMessage {
  version: 1;
  deliveryId: string;
  event: AlertEvent;
  /** Stable per run (or Sprite, or intent) and condition: resolves close what triggers opened. */
  dedupKey: string;
  condition: ConditionName;
  severity: Severity;
  summary: string;
  traceId: string;
  /** when this message was created (ISO) */
  at: string;
  /** when the condition episode began (ISO) */
  openedAt: string;
  run: { id: string; loopId: string; repoPath: string } | null;
  sprite: { id: string; name: string } | null;
  details: Record<string, unknown>;
}

export interface SinkRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export class MissingSecretError extends Error {}

export const SIGNATURE_HEADER = "x-superloop-signature";
export const TIMESTAMP_HEADER = "x-superloop-timestamp";

/**
 * HMAC-SHA256 over `${timestamp}.${body}`, hex: receivers recompute it and reject a timestamp older than a few
 * minutes, so a captured request cannot be replayed later.
 */
export function signature(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

function secret(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (!v) throw new MissingSecretError(`environment variable ${name} is not set`);
  return v;
}

const EMOJI: Record<AlertEvent, string> = { trigger: ":rotating_light:", reminder: ":bell:", resolve: ":white_check_mark:", test: ":test_tube:" };

function slackText(m: AlertMessage): string {
  const what = m.event === "resolve" ? "RESOLVED" : m.event === "test" ? "TEST" : m.severity.toUpperCase();
  return `${EMOJI[m.event]} [${what}] ${m.summary}`;
}

export function buildRequest(sink: SinkConfig, m: AlertMessage, env: NodeJS.ProcessEnv, nowSec: number): SinkRequest {
  const common: Record<string, string> = {
    "content-type": "application/json",
    "user-agent": "superloop-ops-alerts/1",
    "x-trace-id": m.traceId,
    "idempotency-key": m.deliveryId,
  };
  switch (sink.type) {
    case "webhook": {
      const body = JSON.stringify(m);
      const headers: Record<string, string> = { ...Object.fromEntries(Object.entries(sink.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])), ...common };
      headers["x-superloop-event"] = m.event;
      headers["x-superloop-dedup-key"] = m.dedupKey;
      if (sink.authTokenEnv) headers.authorization = `Bearer ${secret(env, sink.authTokenEnv)}`;
      if (sink.signingSecretEnv) {
        headers[TIMESTAMP_HEADER] = String(nowSec);
        headers[SIGNATURE_HEADER] = signature(secret(env, sink.signingSecretEnv), nowSec, body);
      }
      return { url: sink.url ?? secret(env, sink.urlEnv!), headers, body };
    }
    case "slack": {
      const fields = [`*Condition:* ${m.condition}`, `*Severity:* ${m.severity}`, ...(m.sprite ? [`*Sprite:* ${m.sprite.name}`] : []), ...(m.run ? [`*Loop:* ${m.run.loopId}`] : [])];
      const body = JSON.stringify({
        text: slackText(m),
        blocks: [
          { type: "section", text: { type: "mrkdwn", text: slackText(m) } },
          { type: "section", fields: fields.map((text) => ({ type: "mrkdwn", text })) },
          { type: "context", elements: [{ type: "mrkdwn", text: `dedup \`${m.dedupKey}\` · trace \`${m.traceId}\` · since ${m.openedAt}` }] },
        ],
        ...(sink.channel ? { channel: sink.channel } : {}),
        ...(sink.username ? { username: sink.username } : {}),
        ...(sink.iconEmoji ? { icon_emoji: sink.iconEmoji } : {}),
      });
      return { url: sink.webhookUrl ?? secret(env, sink.webhookUrlEnv!), headers: common, body };
    }
    default: {
      const routing_key = secret(env, sink.routingKeyEnv);
      const body =
        m.event === "resolve"
          ? { routing_key, event_action: "resolve", dedup_key: m.dedupKey }
          : {
              routing_key,
              event_action: "trigger",
              dedup_key: m.dedupKey,
              payload: {
                summary: m.summary.slice(0, 1024),
                source: sink.source,
                severity: m.severity,
                timestamp: m.at,
                ...(sink.component ? { component: sink.component } : {}),
                ...(sink.group ? { group: sink.group } : {}),
                ...(sink.class ? { class: sink.class } : { class: m.condition }),
                custom_details: { condition: m.condition, event: m.event, traceId: m.traceId, run: m.run, sprite: m.sprite, openedAt: m.openedAt, ...m.details },
              },
            };
      return { url: sink.url, headers: common, body: JSON.stringify(body) };
    }
  }
}
