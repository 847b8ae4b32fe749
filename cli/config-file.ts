import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { CliError, EXIT } from "./exit-codes";

// Named contexts, kubectl-style: a context is a server URL and the FILE that holds its token (never the token
// itself, so that the config can be shown, copied and committed without leaking it).

const Context = z.strictObject({
  server: z.url({ protocol: /^https?$/ }),
  tokenFile: z.string().min(1).optional(),
});
export type Context = z.infer<typeof Context>;

const ConfigFile = z.strictObject({
  currentContext: z.string().min(1).nullable().default(null),
  contexts: z.record(z.string().regex(/^[A-Za-z0-9._-]{1,64}$/), Context).default({}),
});
export type ConfigFile = z.infer<typeof ConfigFile>;

export const DEFAULT_SERVER = "http://127.0.0.1:4000/graphql";

export function configPath(env: Record<string, string | undefined>): string {
  if (env["OPSCTL_CONFIG"]) return env["OPSCTL_CONFIG"];
  const base = env["XDG_CONFIG_HOME"] || path.join(env["HOME"] || "/tmp", ".config");
  return path.join(base, "opsctl", "config.json");
}

export function readConfig(file: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { currentContext: null, contexts: {} };
    throw new CliError(`cannot read ${file}: ${(e as Error).message}`, EXIT.usage);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CliError(`${file} is not JSON`, EXIT.usage);
  }
  const parsed = ConfigFile.safeParse(json);
  if (!parsed.success) throw new CliError(`${file}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`, EXIT.usage);
  return parsed.data;
}

/** Written whole to a temporary file then renamed, mode 0600 (it names token files). */
export function writeConfig(file: string, config: ConfigFile): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(ConfigFile.parse(config), null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

export function parseContext(input: unknown): Context {
  const parsed = Context.safeParse(input);
  if (!parsed.success) throw new CliError(parsed.error.issues.map((i) => `${i.path.join(".") || "context"}: ${i.message}`).join("; "), EXIT.usage);
  return parsed.data;
}

export interface Connection {
  server: string;
  token: string | undefined;
  context: string | null;
  /** printed on stderr: e.g. a token file others can read */
  warnings: string[];
}

export interface ConnectionFlags {
  server?: string | undefined;
  tokenFile?: string | undefined;
  context?: string | undefined;
}

/**
 * Where to connect and with which token. Precedence: flags, then OPSCTL_* variables, then the context
 * (--context, OPSCTL_CONTEXT or the current one), then the defaults. OPS_URL/OPS_TOKEN (the names of
 * opsctl's first version) are still read, after their OPSCTL_ equivalents.
 */
export function resolveConnection(flags: ConnectionFlags, env: Record<string, string | undefined>, config: ConfigFile): Connection {
  const warnings: string[] = [];
  const contextName = flags.context ?? env["OPSCTL_CONTEXT"] ?? config.currentContext ?? null;
  const ctx = contextName ? config.contexts[contextName] : undefined;
  if (contextName && !ctx && (flags.context || env["OPSCTL_CONTEXT"])) throw new CliError(`no context named ${contextName}`, EXIT.usage);
  const server = flags.server ?? env["OPSCTL_SERVER"] ?? env["OPS_URL"] ?? ctx?.server ?? DEFAULT_SERVER;
  if (!/^https?:\/\//.test(server)) throw new CliError(`--server must be an http(s) URL, got ${server}`, EXIT.usage);
  const tokenFile = flags.tokenFile ?? env["OPSCTL_TOKEN_FILE"];
  let token: string | undefined;
  if (tokenFile) token = readTokenFile(tokenFile, warnings);
  else if (env["OPSCTL_TOKEN"]) token = env["OPSCTL_TOKEN"];
  else if (env["OPS_TOKEN"]) token = env["OPS_TOKEN"];
  else if (ctx?.tokenFile) token = readTokenFile(ctx.tokenFile, warnings);
  return { server, token, context: ctx ? contextName : null, warnings };
}

function readTokenFile(file: string, warnings: string[]): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
    if ((statSync(file).mode & 0o077) !== 0) warnings.push(`warning: token file ${file} is readable by others (chmod 600 it)`);
  } catch (e) {
    throw new CliError(`cannot read token file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, EXIT.usage);
  }
  const token = text.trim();
  if (!token) throw new CliError(`token file ${file} is empty`, EXIT.usage);
  return token;
}
