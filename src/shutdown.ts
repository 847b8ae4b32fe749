import type { WriteStream } from "node:tty";

// What ends the manager, all leading to the same clean stop (server.close(), exit 0):
// - SIGINT (Ctrl-C: the terminal sends it to the whole foreground process group) and SIGTERM;
// - the terminal going away: SIGHUP, or, without any SIGHUP (a shell that does not forward it), the tty hung up
//   (its ioctl fails with EIO) or stdout/stderr writes failing (EIO, EPIPE). Left alone, the first log line after
//   that would be an unhandled `error` event on the stream.
// SIGHUP with a fleet file configured means "reload" (src/registry/fleet-file.ts) unless the terminal is gone.
// Repeated signals while stopping are absorbed: Node's default action (exit at once) would skip stopping PostgreSQL.

export interface ShutdownWatch {
  /** a reason was already given (a signal during start-up) */
  readonly requested: boolean;
  /** resolves with the reason, e.g. "received SIGINT" */
  readonly wait: Promise<string>;
  /** writes to stdout unless the terminal is gone */
  print(text: string): void;
  /** exit code of a close that must finish within `ms` */
  withDeadline(closing: Promise<void>, ms?: number): Promise<number>;
}

const TTY_CHECK_MS = 1000;

export function watchForShutdown(): ShutdownWatch {
  let reason: string | null = null;
  let resolveWait!: (r: string) => void;
  const wait = new Promise<string>((r) => (resolveWait = r));
  let outputDead = false;

  const request = (why: string) => {
    if (reason !== null) return;
    reason = why;
    resolveWait(why);
  };

  const ttys: WriteStream[] = [process.stdout, process.stderr].filter((s) => s.isTTY);
  const hungUp = (): boolean => {
    for (const s of ttys) {
      // On a hung-up tty the window-size ioctl fails (EIO): Node reports it as an `error` event on the stream.
      let failed = false;
      const onError = () => (failed = true);
      s.once("error", onError);
      try {
        s.getWindowSize();
      } catch {
        failed = true;
      }
      s.off("error", onError);
      if (failed) return true;
    }
    return false;
  };

  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (e: NodeJS.ErrnoException) => {
      outputDead = true;
      request(`output closed (${e.code ?? e.message})`);
    });
  }

  process.on("SIGINT", () => (reason ? undefined : request("received SIGINT")));
  process.on("SIGTERM", () => (reason ? undefined : request("received SIGTERM")));
  process.on("SIGHUP", () => {
    if (reason) return;
    if (ttys.length && hungUp()) return request("terminal closed (SIGHUP)");
    // Another SIGHUP listener (the fleet file) makes it a reload; otherwise it can only mean hang up.
    if (process.listenerCount("SIGHUP") <= 1) request("received SIGHUP");
  });

  if (ttys.length) {
    const timer = setInterval(() => {
      if (!reason && hungUp()) {
        outputDead = true;
        request("terminal closed");
      }
    }, TTY_CHECK_MS);
    timer.unref();
  }

  return {
    get requested() {
      return reason !== null;
    },
    wait,
    print(text) {
      if (outputDead) return;
      process.stdout.write(text);
    },
    async withDeadline(closing, ms = 30_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<number>((r) => (timer = setTimeout(() => r(-1), ms)));
      const done = closing.then(
        () => 0,
        (e: unknown) => {
          if (!outputDead) process.stderr.write(`superloop-ops: shutdown error: ${(e as Error).message}\n`);
          return 1;
        },
      );
      const code = await Promise.race([done, timeout]);
      clearTimeout(timer);
      if (code !== -1) return code;
      if (!outputDead) process.stderr.write(`superloop-ops: shutdown did not finish within ${ms / 1000} s\n`);
      return 1;
    },
  };
}
