import { settings } from "../config/config";

// A Sprite names the environment variable that holds its token; the manager reads it and sends it to the
// Sprite's URL. Any name would let an admin ship the manager's own secrets (OPS_TOKENS: every user's token;
// DATABASE_URL: the database password) to an address of their choosing. So a name must start with an
// allowlisted prefix (OPS_SECRET_ENV_PREFIXES) and may never be one of the manager's own settings.

export const DEFAULT_SECRET_ENV_PREFIXES = ["OPS_SECRET_", "SPRITES_TOKEN"];

/** Never a token source, whatever the prefixes say: the manager's settings and the usual process secrets. */
const NEVER = new Set<string>([...Object.keys(settings), "OPS_SECRET_ENV_PREFIXES", "DATABASE_URL", "PGPASSWORD", "PGPASSFILE", "PGSERVICEFILE", "NODE_OPTIONS", "PATH", "HOME"]);

export interface SecretEnvPolicy {
  prefixes: readonly string[];
  /** null when the name may hold a token; otherwise why not */
  refuse(name: string): string | null;
}

export function secretEnvPolicy(prefixes: readonly string[] = DEFAULT_SECRET_ENV_PREFIXES): SecretEnvPolicy {
  return {
    prefixes,
    refuse(name) {
      if (NEVER.has(name) || /^PG[A-Z]+$/.test(name)) return `${name} is one of the manager's own settings and can never be sent to a Sprite`;
      if (!prefixes.some((p) => name.startsWith(p))) {
        return `${name} does not start with an allowed prefix (${prefixes.join(", ")}; OPS_SECRET_ENV_PREFIXES)`;
      }
      return null;
    },
  };
}
