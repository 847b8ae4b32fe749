import type { Config } from "../config/config";
import { destinationPolicy, type DestinationPolicy } from "./destinations";
import { parseList } from "./request-guards";
import { secretEnvPolicy, type SecretEnvPolicy } from "./secret-env";

// What a Sprite's transport settings may point the manager at: token variable names and agent destinations.
// Checked when a Sprite is registered or updated (InvalidInput), and again when its transport is built and on
// every connection (a row stored before a policy change, a name that resolves somewhere else later).

export interface TransportPolicy {
  secrets: SecretEnvPolicy;
  destinations: DestinationPolicy;
}

export function transportPolicy(config: Pick<Config, "OPS_SECRET_ENV_PREFIXES" | "OPS_AGENT_URL_ALLOW" | "OPS_AGENT_URL_DENY">): TransportPolicy {
  return {
    secrets: secretEnvPolicy(config.OPS_SECRET_ENV_PREFIXES === undefined ? undefined : parseList(config.OPS_SECRET_ENV_PREFIXES)),
    destinations: destinationPolicy({ allow: parseList(config.OPS_AGENT_URL_ALLOW), deny: parseList(config.OPS_AGENT_URL_DENY) }),
  };
}

/** The first problem with a transport config's names and destinations, as [field, message]; null if none. */
export function transportConfigProblem(
  c: { agentUrl?: string | undefined; agentTokenEnv?: string | undefined; spritesApiTokenEnv?: string | undefined },
  policy: TransportPolicy,
): [field: string, message: string] | null {
  for (const field of ["agentTokenEnv", "spritesApiTokenEnv"] as const) {
    const name = c[field];
    const why = name === undefined ? null : policy.secrets.refuse(name);
    if (why) return [field, `${field}: ${why}`];
  }
  if (c.agentUrl !== undefined) {
    let host: string;
    try {
      host = new URL(c.agentUrl).hostname;
    } catch {
      return ["agentUrl", "agentUrl is not a URL"];
    }
    const why = policy.destinations.refuseHost(host);
    if (why) return ["agentUrl", why];
  }
  return null;
}
