// Who is calling, and what they may do. A token (src/auth/tokens.ts) names a principal with one role; the
// roles are ordered, each allowing what the one below it allows.

export type Role = "viewer" | "operator" | "admin";

export interface Principal {
  name: string;
  role: Role;
}

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

export function hasRole(principal: Principal | null, role: Role): boolean {
  return principal !== null && RANK[principal.role] >= RANK[role];
}
