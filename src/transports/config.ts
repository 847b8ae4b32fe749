import { z } from "zod";
import { resolveThresholds, type HealthProfile } from "../lifecycle/thresholds";

// What Sprite.transportConfig may hold. Tokens are never stored: only the NAME of the environment variable
// that holds one, read at request time (a missing variable is a health reason then, not a registration error).

/** POSIX-style environment variable name. */
export const ENV_VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
export const envVarNameSchema = z.string().regex(ENV_VAR_NAME, "must be an environment variable NAME (letters, digits, _; not starting with a digit), never the token itself");

export const agentUrlSchema = z
  .string()
  .max(2048)
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === "http:" || url.protocol === "https:") && url.username === "" && url.password === "";
    } catch {
      return false;
    }
  }, "must be an http(s) URL without credentials");

/** Sprites API names (Fly.io): lowercase letters, digits and dashes. */
export const spritesApiNameSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "must be lowercase letters, digits and dashes (max 63)");

export const healthOverridesSchema = z
  .strictObject({
    ingestLagWarningSec: z.number().positive().optional(),
    ingestLagCriticalSec: z.number().positive().optional(),
    transportFailureWarning: z.number().int().positive().optional(),
    transportFailureCritical: z.number().int().positive().optional(),
  })
  .superRefine((o, ctx) => {
    // Checked against itself here; against the profile it is applied to in `validateThresholds`.
    if (o.ingestLagWarningSec !== undefined && o.ingestLagCriticalSec !== undefined && o.ingestLagWarningSec > o.ingestLagCriticalSec) {
      ctx.addIssue({ code: "custom", path: ["ingestLagWarningSec"], message: "must not exceed ingestLagCriticalSec" });
    }
    if (o.transportFailureWarning !== undefined && o.transportFailureCritical !== undefined && o.transportFailureWarning > o.transportFailureCritical) {
      ctx.addIssue({ code: "custom", path: ["transportFailureWarning"], message: "must not exceed transportFailureCritical" });
    }
  });
export type HealthOverrides = z.infer<typeof healthOverridesSchema>;

/** The profile with the overrides applied, or the reason it would make health meaningless. */
export function validateThresholds(profile: HealthProfile, overrides: HealthOverrides | undefined): string | null {
  try {
    resolveThresholds(profile, overrides ?? {});
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

export const transportConfigSchema = z.strictObject({
  agentUrl: agentUrlSchema.optional(),
  agentTokenEnv: envVarNameSchema.optional(),
  spritesApiName: spritesApiNameSchema.optional(),
  spritesApiTokenEnv: envVarNameSchema.optional(),
  healthOverrides: healthOverridesSchema.optional(),
  /** Remote transports: time to connect, total time per request (long polls add their wait), attempts per request. */
  connectTimeoutMs: z.number().int().min(50).max(60_000).optional(),
  requestTimeoutMs: z.number().int().min(100).max(600_000).optional(),
  retryAttempts: z.number().int().min(1).max(10).optional(),
});
export type TransportConfig = z.infer<typeof transportConfigSchema>;

/** Stored JSON → config; anything unreadable (hand-edited row) yields the issues instead of throwing. */
export function parseTransportConfig(json: unknown): { ok: true; config: TransportConfig } | { ok: false; message: string } {
  const parsed = transportConfigSchema.safeParse(json ?? {});
  if (parsed.success) return { ok: true, config: parsed.data };
  return { ok: false, message: parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ") };
}

/** Reads a token from the environment by name; never logged, never stored. */
export function tokenFromEnv(name: string | undefined): { ok: true; token: string | null } | { ok: false; message: string } {
  if (name === undefined) return { ok: true, token: null };
  const value = process.env[name];
  if (value === undefined || value.length === 0) return { ok: false, message: `environment variable ${name} (the token) is not set on the manager` };
  return { ok: true, token: value };
}
