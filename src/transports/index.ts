import path from "node:path";
import type { App } from "../app";
import type { Sprite } from "../generated/prisma/client";
import { LocalTransport } from "./local";
import type { Transport } from "./transport";

/** Picks the transport for a Sprite. Transports are shared: they hold connection pools, not run state. */
export function createTransportFactory(app: Pick<App, "config">): { transportFor(sprite: Sprite): Transport; close(): Promise<void> } {
  const local = new LocalTransport({ superloopBin: app.config.SUPERLOOP_BIN, logDir: path.resolve(app.config.OPS_DATA_DIR, "logs") });
  return {
    transportFor(sprite) {
      switch (sprite.transport) {
        case "LOCAL":
          return local;
        default:
          throw new Error(`transport ${sprite.transport} is not available in this build`);
      }
    },
    async close() {},
  };
}
