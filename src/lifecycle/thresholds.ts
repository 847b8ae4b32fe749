// Health threshold profiles. A Sprite picks a profile by name (stored as `healthProfile`) and may override
// single numbers; resolution is pure so the same inputs always give the same health.

export type HealthProfile = "strict" | "balanced" | "relaxed";

export interface HealthThresholds {
  /** a RUNNING run whose last event (or heartbeat) is older than this is `warning` */
  ingestLagWarningSec: number;
  /** ... and older than this is `critical` */
  ingestLagCriticalSec: number;
  /** consecutive transport failures that make `transport_unreachable` a warning */
  transportFailureWarning: number;
  /** ... and critical */
  transportFailureCritical: number;
}

export const HEALTH_PROFILES: Readonly<Record<HealthProfile, Readonly<HealthThresholds>>> = {
  strict: { ingestLagWarningSec: 120, ingestLagCriticalSec: 300, transportFailureWarning: 1, transportFailureCritical: 2 },
  balanced: { ingestLagWarningSec: 300, ingestLagCriticalSec: 900, transportFailureWarning: 2, transportFailureCritical: 4 },
  relaxed: { ingestLagWarningSec: 600, ingestLagCriticalSec: 1800, transportFailureWarning: 3, transportFailureCritical: 6 },
};

export const DEFAULT_HEALTH_PROFILE: HealthProfile = "balanced";

export function isHealthProfile(value: string): value is HealthProfile {
  return Object.prototype.hasOwnProperty.call(HEALTH_PROFILES, value);
}

/**
 * Profile numbers with explicit overrides applied. Throws RangeError on overrides that would make health
 * meaningless (non-positive, non-finite, or a warning level above its critical level): such a config must be
 * rejected where it is entered, not silently "fixed".
 */
export function resolveThresholds(profile: HealthProfile, overrides: Partial<HealthThresholds> = {}): HealthThresholds {
  const resolved: HealthThresholds = { ...HEALTH_PROFILES[profile] };
  for (const key of Object.keys(resolved) as (keyof HealthThresholds)[]) {
    const value = overrides[key];
    if (value === undefined) continue;
    if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${key} must be a positive number, got ${value}`);
    resolved[key] = value;
  }
  if (resolved.ingestLagWarningSec > resolved.ingestLagCriticalSec) {
    throw new RangeError("ingestLagWarningSec must not exceed ingestLagCriticalSec");
  }
  if (resolved.transportFailureWarning > resolved.transportFailureCritical) {
    throw new RangeError("transportFailureWarning must not exceed transportFailureCritical");
  }
  return resolved;
}
