// Cheap checks on the request line and headers, before a body is read: they are what keeps a web page the
// operator happens to visit from driving the API (CSRF, DNS rebinding), in open mode above all, where every
// caller is admin. Pure: the HTTP server and the graphql-ws upgrade both ask `guardRequest`.

export interface OriginPolicy {
  /** origins (scheme://host[:port]) allowed besides the server's own; "*" is never accepted */
  allowedOrigins: readonly string[];
  /** Host header names accepted on a loopback bind; null = any (a non-loopback bind, where tokens are required) */
  allowedHosts: readonly string[] | null;
}

export interface RequestFacts {
  method: string;
  /** the Host header */
  host: string | undefined;
  /** the Origin header */
  origin: string | undefined;
  /** the Content-Type header */
  contentType: string | undefined;
  /** true for the GraphQL endpoint (media types are checked there only) */
  graphql: boolean;
  /** true for a WebSocket upgrade */
  upgrade?: boolean;
}

export type GuardCode = "HOST_NOT_ALLOWED" | "ORIGIN_NOT_ALLOWED" | "UNSUPPORTED_MEDIA_TYPE";

export interface Refusal {
  status: number;
  code: GuardCode;
  message: string;
}

/** Host names a loopback bind answers to, whatever port. */
export const LOOPBACK_HOST_NAMES = ["localhost", "127.0.0.1", "[::1]"];

/** Request bodies the GraphQL endpoint accepts. A browser cannot send these cross-site without a CORS preflight. */
const JSON_MEDIA_TYPES = new Set(["application/json", "application/graphql-response+json", "application/graphql+json"]);

export function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith("[")) return h.slice(0, h.indexOf("]") + 1);
  const colon = h.lastIndexOf(":");
  return colon >= 0 ? h.slice(0, colon) : h;
}

/** The request's own origin as a browser on the same page would send it. */
function sameOrigin(host: string | undefined): string | null {
  return host ? `http://${host.trim().toLowerCase()}` : null;
}

export function originAllowed(origin: string, host: string | undefined, policy: OriginPolicy): boolean {
  const o = origin.trim().toLowerCase();
  if (o === sameOrigin(host)) return true;
  return policy.allowedOrigins.some((a) => a.toLowerCase() === o);
}

export function guardRequest(req: RequestFacts, policy: OriginPolicy): Refusal | null {
  if (policy.allowedHosts) {
    // DNS rebinding: a hostile name resolving to 127.0.0.1 reaches us with its own name in Host.
    if (!req.host || !policy.allowedHosts.includes(hostName(req.host))) {
      return { status: 421, code: "HOST_NOT_ALLOWED", message: `Host "${(req.host ?? "").slice(0, 100)}" is not served here (loopback bind: use localhost or the address)` };
    }
  }
  // Browsers send Origin on every cross-origin request, WebSocket and POST included; other clients usually none.
  if (req.origin !== undefined && req.origin !== "" && !originAllowed(req.origin, req.host, policy)) {
    return { status: 403, code: "ORIGIN_NOT_ALLOWED", message: "this Origin is not allowed (OPS_ALLOWED_ORIGINS)" };
  }
  if (req.graphql && !req.upgrade && req.method.toUpperCase() === "POST") {
    const type = (req.contentType ?? "").split(";")[0].trim().toLowerCase();
    if (!JSON_MEDIA_TYPES.has(type)) {
      return { status: 415, code: "UNSUPPORTED_MEDIA_TYPE", message: "POST bodies must be application/json" };
    }
  }
  return null;
}

export function parseList(spec: string | undefined): string[] {
  return (spec ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}
