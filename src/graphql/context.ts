import type { App } from "../app";

export type Role = "viewer" | "operator" | "admin";

export interface Principal {
  name: string;
  role: Role;
}

export interface Context {
  app: App;
  /** null = a request without valid credentials on a server that has tokens configured */
  principal: Principal | null;
}

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

export function hasRole(principal: Principal | null, role: Role): boolean {
  return principal !== null && RANK[principal.role] >= RANK[role];
}
