import { BlockList, isIP } from "node:net";

// Where the manager may connect for a SPRITE_SERVICE agent. An admin sets agentUrl; without a check the manager
// is a request forwarder into its own network: cloud metadata (169.254.169.254 hands out credentials),
// link-local services, "this host" 0.0.0.0. Checked twice: the URL at registration, and every address a host
// name resolves to when connecting (a name may resolve to a denied address later: DNS rebinding).

/** Denied unless OPS_AGENT_URL_ALLOW names them: link-local (metadata lives there), unspecified, multicast. */
export const DEFAULT_DENIED_CIDRS = ["169.254.0.0/16", "0.0.0.0/8", "224.0.0.0/4", "255.255.255.255/32", "100.100.100.200/32", "fe80::/10", "::/128", "ff00::/8", "fd00:ec2::254/128"];
export const DEFAULT_DENIED_HOSTS = ["metadata", "metadata.google.internal", "instance-data", "instance-data.ec2.internal"];

export interface DestinationPolicy {
  /** a URL's host (name or literal address): null = allowed */
  refuseHost: (host: string) => string | null;
  /** an address the URL's host name resolved to: null = allowed */
  refuseAddress: (address: string, host: string) => string | null;
}

function blockList(entries: readonly string[]): { list: BlockList; names: Set<string> } {
  const list = new BlockList();
  const names = new Set<string>();
  for (const e of entries) {
    const [addr, bits] = e.split("/") as [string, string | undefined];
    const family = isIP(addr);
    if (family === 0) names.add(e.toLowerCase());
    else if (bits !== undefined) list.addSubnet(addr, Number(bits), family === 6 ? "ipv6" : "ipv4");
    else list.addAddress(addr, family === 6 ? "ipv6" : "ipv4");
  }
  return { list, names };
}

/** "10.0.0.0/8,agents.internal" style lists: CIDRs, single addresses and host names. */
export const destinationListPattern = /^[A-Za-z0-9.:\-/[\]]+(,[A-Za-z0-9.:\-/[\]]+)*$/;

export function destinationPolicy(opts: { allow?: readonly string[]; deny?: readonly string[] } = {}): DestinationPolicy {
  const deny = blockList([...DEFAULT_DENIED_CIDRS, ...DEFAULT_DENIED_HOSTS, ...(opts.deny ?? [])]);
  const allow = opts.allow?.length ? blockList(opts.allow) : null;
  const matches = (l: { list: BlockList; names: Set<string> }, host: string) => {
    const family = isIP(host);
    if (family === 0) return l.names.has(host.toLowerCase());
    // an IPv4-mapped IPv6 address is the IPv4 address
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
    if (mapped) return l.list.check(mapped[1], "ipv4");
    return l.list.check(host, family === 6 ? "ipv6" : "ipv4");
  };
  const bare = (host: string) => host.replace(/^\[|\]$/g, "");
  const refuse = (h: string, what: string): string | null => {
    if (allow) return matches(allow, h) ? null : `${what} ${h} is not in OPS_AGENT_URL_ALLOW`;
    return matches(deny, h) ? `${what} ${h} is a denied destination (link-local, metadata or OPS_AGENT_URL_DENY)` : null;
  };
  return {
    refuseHost: (host) => refuse(bare(host), "agentUrl host"),
    refuseAddress: (address, host) => {
      // a host name allowed by name may resolve anywhere its owner points it; otherwise the address decides
      if (allow && isIP(bare(host)) === 0 && allow.names.has(bare(host).toLowerCase())) return null;
      return refuse(bare(address), `agentUrl host ${bare(host)} resolves to`);
    },
  };
}
