import { createHash, timingSafeEqual } from "node:crypto";
import type { Principal, Role } from "./principal";

// OPS_TOKENS="name:role:token,..." — tokens live only in the environment; we keep their digests and compare
// digests in constant time, so a token never sits in a log line or a heap dump of request handling.

export interface TokenTable {
  open: boolean;
  verify(bearer: string | null | undefined): Principal | null;
}

const ROLES = new Set<Role>(["viewer", "operator", "admin"]);
const digest = (s: string) => createHash("sha256").update(s).digest();

export function parseTokens(spec: string | undefined): TokenTable {
  const entries: { name: string; role: Role; digest: Buffer }[] = [];
  const problems: string[] = [];
  for (const [i, part] of (spec ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .entries()) {
    const [name, role, ...rest] = part.split(":");
    const token = rest.join(":");
    if (!name || !role || !token) problems.push(`entry ${i + 1}: expected name:role:token`);
    else if (!ROLES.has(role as Role)) problems.push(`entry ${i + 1} (${name}): role must be viewer, operator or admin`);
    else if (token.length < 8) problems.push(`entry ${i + 1} (${name}): token must be at least 8 characters`);
    else entries.push({ name, role: role as Role, digest: digest(token) });
  }
  if (problems.length) throw new Error(`OPS_TOKENS: ${problems.join("; ")}`);
  const open = entries.length === 0;
  return {
    open,
    verify(bearer) {
      if (open) return { name: "anonymous", role: "admin" };
      if (!bearer) return null;
      const token = bearer.replace(/^Bearer\s+/i, "").trim();
      const d = digest(token);
      let found: Principal | null = null;
      // Compare against every entry (no early exit) so timing does not reveal which entry matched.
      for (const e of entries) if (timingSafeEqual(d, e.digest)) found = { name: e.name, role: e.role };
      return found;
    },
  };
}
