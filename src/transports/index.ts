import path from "node:path";
import type { App } from "../app";
import type { Sprite } from "../generated/prisma/client";
import { parseTransportConfig } from "./config";
import { DEMO_SUPERLOOP_BIN } from "../../demo/simulator-bin";
import { transportConfigProblem, transportPolicy } from "../security/transport-policy";
import { DEFAULT_RETRY } from "./http";
import { LocalTransport } from "./local";
import { SpritesApiTransport } from "./sprites-api";
import { SpriteServiceTransport } from "./sprite-service";
import { TransportError, type Transport } from "./transport";

/** A Sprite whose stored config cannot make a transport: every call fails with the reason, as a health reason. */
class MisconfiguredTransport implements Transport {
  constructor(
    readonly kind: Sprite["transport"],
    private readonly reason: string,
  ) {}
  private fail(): never {
    throw new TransportError("invalid_config", this.reason, false);
  }
  spriteStatus(): never {
    return this.fail();
  }
  fingerprint(): never {
    return this.fail();
  }
  readFacts(): never {
    return this.fail();
  }
  readEvents(): never {
    return this.fail();
  }
  control(): never {
    return this.fail();
  }
}

export interface TransportFactoryOptions {
  /** Test seam: timeouts and retry policy of the remote transports. */
  remote?: { connectTimeoutMs?: number; requestTimeoutMs?: number; retry?: { attempts: number; baseDelayMs: number; maxDelayMs: number } };
}

/**
 * Picks the transport for a Sprite. LOCAL is shared (no per-sprite state); each remote Sprite gets its own
 * instance, rebuilt when its transport settings change, so per-run caches never outlive a reconfiguration.
 */
export function createTransportFactory(app: Pick<App, "config">, opts: TransportFactoryOptions = {}): { transportFor: (sprite: Sprite) => Transport; close: () => Promise<void> } {
  const logDir = path.resolve(app.config.OPS_DATA_DIR, "logs");
  const local = new LocalTransport({ superloopBin: app.config.SUPERLOOP_BIN, logDir });
  // The runtime binary is per Sprite: only demo Sprites run the simulator, whatever mode the manager started in.
  const demoLocal = new LocalTransport({ superloopBin: DEMO_SUPERLOOP_BIN, logDir });
  const remote = new Map<string, { key: string; transport: Transport }>();
  const policy = transportPolicy(app.config);
  const build = (sprite: Sprite): Transport => {
    const parsed = parseTransportConfig(sprite.transportConfig);
    if (!parsed.ok) return new MisconfiguredTransport(sprite.transport, `invalid transport config: ${parsed.message}`);
    const c = parsed.config;
    // a row stored before the policy (or a policy change): refused here too, never read or sent
    const refused = transportConfigProblem(c, policy);
    if (refused) return new MisconfiguredTransport(sprite.transport, refused[1]);
    const retry = opts.remote?.retry ?? DEFAULT_RETRY;
    const timing = {
      ...opts.remote,
      ...(c.connectTimeoutMs !== undefined ? { connectTimeoutMs: c.connectTimeoutMs } : {}),
      ...(c.requestTimeoutMs !== undefined ? { requestTimeoutMs: c.requestTimeoutMs } : {}),
      retry: c.retryAttempts !== undefined ? { ...retry, attempts: c.retryAttempts } : retry,
    };
    if (sprite.transport === "SPRITE_SERVICE") {
      if (!c.agentUrl) return new MisconfiguredTransport(sprite.transport, "SPRITE_SERVICE needs agentUrl");
      return new SpriteServiceTransport({ agentUrl: c.agentUrl, tokenEnv: c.agentTokenEnv, refuseAddress: policy.destinations.refuseAddress, ...timing });
    }
    return new SpritesApiTransport({
      baseUrl: app.config.SPRITES_API_URL,
      spriteName: c.spritesApiName ?? sprite.name,
      tokenEnv: c.spritesApiTokenEnv,
      superloopBin: app.config.SUPERLOOP_BIN,
      ...timing,
    });
  };
  return {
    transportFor: (sprite) => {
      if (sprite.transport === "LOCAL") return sprite.demo ? demoLocal : local;
      const key = JSON.stringify([sprite.transport, sprite.transportConfig]);
      const cached = remote.get(sprite.id);
      if (cached && cached.key === key) return cached.transport;
      if (cached) void cached.transport.close?.();
      const transport = build(sprite);
      remote.set(sprite.id, { key, transport });
      return transport;
    },
    close: async () => {
      await Promise.all([...remote.values()].map((r) => r.transport.close?.() ?? Promise.resolve()));
      remote.clear();
    },
  };
}
