import { stat } from "node:fs/promises";
import type { App } from "../app";
import type { Run, Sprite, TransportKind } from "../generated/prisma/client";
import { Prisma } from "../generated/prisma/client";
import { DuplicateNameError, InvalidInputError } from "../graphql/errors";

export interface RegisterSpriteInput {
  name: string;
  transport: TransportKind;
  repoPath: string;
  loopId: string;
  pollIntervalMs?: number | null;
  transportConfig?: Record<string, string>;
}

/** Creates a Sprite and its Run (state IDLE/not_started until the poller sees otherwise). */
export async function registerSprite(app: App, input: RegisterSpriteInput, actor: string): Promise<{ sprite: Sprite; run: Run }> {
  if (input.transport === "LOCAL") {
    const s = await stat(input.repoPath).catch(() => null);
    if (!s?.isDirectory()) throw new InvalidInputError("repoPath", `repo path ${input.repoPath} is not a directory on this machine`);
  }
  let created: { sprite: Sprite; run: Run };
  try {
    created = await app.db.$transaction(async (tx) => {
      const sprite = await tx.sprite.create({
        data: {
          name: input.name,
          transport: input.transport,
          transportConfig: input.transportConfig ?? {},
          pollIntervalMs: input.pollIntervalMs ?? null,
        },
      });
      const run = await tx.run.create({
        data: { spriteId: sprite.id, loopId: input.loopId, repoPath: input.repoPath, state: "IDLE", stateReason: "not_started", seq: 1 },
      });
      await tx.lifecycleTransition.create({
        data: { runId: run.id, seq: 1, from: null, to: "IDLE", reason: "not_started", trigger: "register", actor },
      });
      return { sprite, run };
    });
  } catch (e) {
    if (e instanceof Prisma.PrismaClientKnownRequestError && e.code === "P2002") throw new DuplicateNameError("name", input.name);
    throw e;
  }
  app.bus.publish("run", created.run.id, {
    runId: created.run.id,
    spriteId: created.sprite.id,
    seq: created.run.seq,
    previousState: null,
    state: created.run.state,
    reason: created.run.stateReason,
    lifecycleChanged: true,
    at: created.run.stateSince,
  });
  await app.onRunRegistered?.(created.run.id);
  return created;
}
