// Over 350 lines: every opsctl command end to end against one real server and database (one setup shared by
// all, which is most of the cost), in the order the README documents them.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { buildOpsctl } from "../../scripts/build-opsctl";
import type { RunningServer } from "../../src/server";
import { freePort } from "../../src/util/net";
import { createTestDatabase } from "../support/db";
import { repoFromRecording } from "../support/fixtures";
import { register, waitFor } from "../support/runs";
import { emptyRepo, killSims, runState, startControlServer, startSim, TOKENS } from "./helpers";

// opsctl as scripts and people run it: a separate process (bin/opsctl.mjs) against real servers. Covers the
// command tree, every output format, one exit code per failure class, contexts, completion, bulk control with
// per-run results, and `wait` / `events -f` across a restart of the server (resume, no duplicate line).

const OPSCTL = path.resolve(import.meta.dirname, "../../bin/opsctl.mjs");

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface CliOptions {
  server?: RunningServer | string | null;
  token?: string | null;
  env?: Record<string, string>;
}

/** A running opsctl: `lines` is its stdout so far; `stop` sends SIGINT. */
function start(args: string[], o: CliOptions = {}) {
  const url = o.server === undefined ? server.url : typeof o.server === "string" ? o.server : o.server?.url;
  const token = o.token === undefined ? TOKENS.op : o.token;
  const child = spawn(process.execPath, [OPSCTL, ...args], {
    env: {
      PATH: process.env["PATH"] ?? "",
      HOME: home,
      ...(url ? { OPSCTL_SERVER: url } : {}),
      ...(token ? { OPSCTL_TOKEN: token } : {}),
      ...o.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const done = new Promise<Result>((resolve) => child.on("exit", (code) => resolve({ code, stdout, stderr })));
  return {
    done,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    stop: () => child.kill("SIGINT"),
  };
}

// At most two short-lived opsctl processes at a time: the machine has two cores, shared with other test files.
let running = 0;
const queue: (() => void)[] = [];
async function cli(args: string[], o: CliOptions = {}): Promise<Result> {
  if (running >= 2) await new Promise<void>((r) => queue.push(r));
  running++;
  try {
    return await start(args, o).done;
  } finally {
    running--;
    queue.shift()?.();
  }
}

let server: RunningServer;
let failing: RunningServer;
let home: string;
let approval: { id: string; raw: string };
let complete: { id: string; raw: string };

beforeAll(async () => {
  process.env["SIM_STEP_MS"] = "30";
  home = mkdtempSync(path.join(tmpdir(), "opsctl-home-"));
  const noBin = path.join(mkdtempSync(path.join(tmpdir(), "opsctl-nobin-")), "superloop");
  writeFileSync(noBin, "#!/bin/sh\necho 'simulated failure' >&2\nexit 3\n");
  chmodSync(noBin, 0o755);
  [server, failing] = await Promise.all([startControlServer(), startControlServer({ SUPERLOOP_BIN: noBin }), buildOpsctl()]);
  approval = await register(server, "cli-approval", repoFromRecording("approval"), "demo-loop", TOKENS.admin);
  complete = await register(server, "cli-complete", repoFromRecording("complete"), "demo-loop", TOKENS.admin);
  await waitFor(
    () => runState(server, approval.id),
    (s) => s.state === "AWAITING_APPROVAL",
    15_000,
    "AWAITING_APPROVAL",
  );
  await waitFor(
    () => runState(server, complete.id),
    (s) => s.state === "COMPLETE",
    15_000,
    "COMPLETE",
  );
});
afterAll(async () => {
  await Promise.all([server?.close(), failing?.close()]);
  killSims();
});

describe("strict parsing", () => {
  it("unknown options, extra arguments, bad values and missing commands exit 64 with usage", async () => {
    const cases = await Promise.all([
      cli([]),
      cli(["get", "runs", "-o", "wide", "foo"]),
      cli(["get", "runs", "--bogus"]),
      cli(["get"]),
      cli(["frobnicate"]),
      cli(["get", "runs", "-o", "xml"]),
      cli(["get", "runs", "--state", "SLEEPING"]),
      cli(["cancel", "x", "--key", "no spaces allowed"]),
      cli(["cancel"]),
      cli(["wait", "x"]),
      cli(["wait", "x", "--for", "state=COMPLETE", "--timeout", "soon"]),
      cli(["completion", "powershell"]),
    ]);
    for (const r of cases) expect(r.code, r.stderr).toBe(64);
    expect(cases[1].stderr).toMatch(/too many arguments/);
    expect(cases[1].stderr).toMatch(/Usage: opsctl get runs/);
    expect(cases[2].stderr).toMatch(/unknown option '--bogus'/);
    expect(cases[6].stderr).toMatch(/--state/);
    expect(cases[7].stderr).toMatch(/--key/);
    expect(cases[8].stderr).toMatch(/name at least one run, or select runs/);
    expect(cases[9].stderr).toMatch(/--for/);
  }, 90_000);

  it("under -o json a usage error is one JSON document on stderr", async () => {
    const r = await cli(["get", "runs", "--bogus", "-o", "json"]);
    expect(r.code).toBe(64);
    expect(r.stdout).toBe("");
    expect(JSON.parse(r.stderr)).toEqual({ error: { type: "UsageError", message: "unknown option '--bogus'", exit: 64 } });
  }, 90_000);
});

describe("exit codes per failure class", () => {
  it("0 ok, 1 failed, 2 refused, 3 not found, 4 timeout, 69 unreachable, 77 unauthorized", async () => {
    const closed = `http://127.0.0.1:${await freePort()}/graphql`;
    const [refused, notFound, notFoundSprite, notFoundIntent, timeout, unreachable, anonymous, wrongToken, viewer, ok] = await Promise.all([
      cli(["approve", "cli-complete"]),
      cli(["describe", "run", "no-such-run"]),
      cli(["describe", "sprite", "no-such-sprite"]),
      cli(["describe", "intent", "00000000-0000-0000-0000-000000000000"]),
      cli(["wait", "cli-complete", "--for", "state=RUNNING", "--timeout", "1s"]),
      cli(["get", "runs"], { server: closed }),
      cli(["get", "runs"], { token: null }),
      cli(["get", "runs"], { token: "not-a-token" }),
      cli(["cancel", "cli-complete"], { token: TOKENS.viewer }),
      cli(["get", "runs"], { token: TOKENS.viewer }),
    ]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/PreconditionFailed/);
    expect(notFound.code).toBe(3);
    expect(notFoundSprite.code).toBe(3);
    expect(notFoundIntent.code).toBe(3);
    expect(timeout.code).toBe(4);
    expect(timeout.stderr).toMatch(/timed out after 1 s/);
    expect(unreachable.code).toBe(69);
    expect(anonymous.code).toBe(77);
    expect(anonymous.stderr).toMatch(/authentication required/);
    expect(wrongToken.code).toBe(77);
    expect(viewer.code).toBe(77);
    expect(viewer.stderr).toMatch(/Unauthorized/);
    expect(ok.code).toBe(0);

    // 1: the operation was tried and failed (the runtime's start command exits non-zero)
    const run = await register(failing, "cli-fails", repoFromRecording("complete"), "demo-loop", TOKENS.admin);
    await waitFor(
      () => runState(failing, run.id),
      (s) => s.state === "COMPLETE",
      15_000,
      "COMPLETE",
    );
    const failed = await cli(["start", "cli-fails", "--wait", "--timeout", "20s", "-o", "json"], { server: failing });
    expect(failed.code).toBe(1);
    const doc = JSON.parse(failed.stdout) as { items: { ok: boolean; exit: number; intent: { stage: string } }[] };
    expect(doc.items[0]).toMatchObject({ ok: false, exit: 1, intent: { stage: "FAILED" } });

    // errors under -o json: one JSON document on stderr, with the exit code and the API's error type
    const jsonErr = await cli(["approve", "cli-complete", "-o", "json"]);
    expect(jsonErr.code).toBe(2);
    const refusedDoc = JSON.parse(jsonErr.stdout) as { items: { error: { type: string } }[] };
    expect(refusedDoc.items[0].error.type).toBe("PreconditionFailed");
    const nf = await cli(["describe", "run", "nope", "-o", "json"]);
    expect(JSON.parse(nf.stderr)).toMatchObject({ error: { type: "NotFound", exit: 3 } });
    const down = await cli(["get", "runs", "-o", "json"], { server: closed });
    expect(JSON.parse(down.stderr)).toMatchObject({ error: { type: "Unavailable", exit: 69 } });
  }, 90_000);
});

describe("get and describe, every output format", () => {
  it("get runs: aligned table, wide, json, jsonl, yaml, name, jsonpath, --no-headers; no colour when piped", async () => {
    const [table, wide, json, jsonl, yaml, name, jp, noHeaders] = await Promise.all([
      cli(["get", "runs"], { token: TOKENS.viewer }),
      cli(["get", "runs", "-o", "wide"]),
      cli(["get", "runs", "-o", "json"]),
      cli(["get", "runs", "-o", "jsonl"]),
      cli(["get", "runs", "-o", "yaml"]),
      cli(["get", "runs", "-o", "name"]),
      cli(["get", "runs", "-o", 'jsonpath={range .items[*]}{.sprite.name}={.state}{"\\n"}{end}']),
      cli(["get", "runs", "--no-headers"]),
    ]);
    for (const r of [table, wide, json, jsonl, yaml, name, jp, noHeaders]) expect(r.code, r.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^SPRITE\s+LOOP\s+STATE\s+HEALTH\s+ITER\s+AGE\s+LAST EVENT\s+RUN$/);
    // aligned: every column starts at the same offset on every line
    const at = (l: string, col: string) => l.indexOf(col);
    const stateCol = at(lines[0], "STATE");
    const row = lines.find((l) => l.startsWith("cli-approval"))!;
    expect(row.slice(stateCol)).toMatch(/^AWAITING_APPROVAL\s+(HEALTHY|DEGRADED|CRITICAL)\s+/);
    expect(row.endsWith(approval.raw)).toBe(true);
    expect(table.stdout).not.toContain("\u001b[");
    expect(wide.stdout.split("\n")[0]).toMatch(/REASON.*INGEST.*TRANSPORT.*REPO/);
    const doc = JSON.parse(json.stdout) as { kind: string; items: { sprite: { name: string }; state: string; health: { status: string } }[] };
    expect(doc.kind).toBe("RunList");
    expect(doc.items.map((r) => r.sprite.name)).toEqual(expect.arrayContaining(["cli-approval", "cli-complete"]));
    expect(
      jsonl.stdout
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as { sprite: { name: string } }).sprite.name),
    ).toEqual(doc.items.map((r) => r.sprite.name));
    expect(parseYaml(yaml.stdout)).toEqual(JSON.parse(json.stdout));
    expect(name.stdout.trim().split("\n")).toEqual(expect.arrayContaining([`run/${approval.raw}`, `run/${complete.raw}`]));
    expect(jp.stdout).toContain("cli-approval=AWAITING_APPROVAL\n");
    expect(jp.stdout).toContain("cli-complete=COMPLETE\n");
    expect(noHeaders.stdout).not.toMatch(/SPRITE/);
    expect(noHeaders.stdout.trim().split("\n").length).toBe(doc.items.length);
  }, 90_000);

  it("selectors go to the API's RunFilter (and --health, --limit here); -o name output is accepted back as a run", async () => {
    const [byState, bySprite, intervention, limited, healthy, describeByName] = await Promise.all([
      cli(["get", "runs", "--state", "awaiting_approval", "-o", "name"]),
      cli(["get", "runs", "--sprite", "cli-complete", "-o", "jsonpath={.items[*].state}"]),
      cli(["get", "runs", "--needs-intervention", "-o", "name"]),
      cli(["get", "runs", "--limit", "1", "-o", "name"]),
      cli(["get", "runs", "--health", "HEALTHY,DEGRADED,CRITICAL", "--state", "COMPLETE", "-o", "name"]),
      cli(["describe", "run", `run/${approval.raw}`, "-o", "jsonpath={.state}"]),
    ]);
    expect(byState.stdout.trim().split("\n")).toContain(`run/${approval.raw}`);
    expect(byState.stdout).not.toContain(complete.raw);
    expect(bySprite.stdout.trim()).toBe("COMPLETE");
    expect(intervention.stdout).toContain(approval.raw);
    expect(limited.stdout.trim().split("\n")).toHaveLength(1);
    expect(healthy.stdout).toContain(complete.raw);
    expect(healthy.stdout).not.toContain(approval.raw);
    expect(describeByName.stdout.trim()).toBe("AWAITING_APPROVAL");
  }, 90_000);

  it("get sprites, interventions, intents, audit; describe run, sprite, intent; events", async () => {
    // an intent to list: a refused approve is recorded (REJECTED)
    await cli(["approve", "cli-complete", "--note", "audit me"]);
    const [sprites, spritesWide, interventions, intents, audit, run, sprite, events, eventsJson, eventsAfter] = await Promise.all([
      cli(["get", "sprites"]),
      cli(["get", "sprites", "-o", "wide"]),
      cli(["get", "interventions", "--sprite", "cli-approval"]),
      cli(["get", "intents", "cli-complete", "-o", "json"]),
      cli(["get", "audit", "cli-complete"]),
      cli(["describe", "run", "cli-approval"]),
      cli(["describe", "sprite", "cli-complete", "-o", "yaml"]),
      cli(["events", "cli-complete"]),
      cli(["events", "cli-complete", "-o", "jsonl"]),
      cli(["events", "cli-complete", "--after", "2", "--limit", "2", "-o", "jsonl"]),
    ]);
    for (const r of [sprites, spritesWide, interventions, intents, audit, run, sprite, events, eventsJson, eventsAfter]) expect(r.code, r.stderr).toBe(0);
    expect(sprites.stdout.split("\n")[0]).toMatch(/^NAME\s+TRANSPORT\s+STATUS\s+HEALTH\s+RUNS\s+CONTROL\s+LAST SEEN\s+AGE$/);
    expect(sprites.stdout).toMatch(/cli-approval\s+LOCAL/);
    expect(spritesWide.stdout.split("\n")[0]).toMatch(/AGENT URL\s+POLL MS\s+PROFILE\s+MAX RUNS/);
    expect(interventions.stdout.split("\n")[0]).toMatch(/^SPRITE\s+LOOP\s+SEVERITY\s+STATE\s+REASONS\s+SUGGESTED\s+AGE\s+RUN$/);
    expect(interventions.stdout).toMatch(/cli-approval\s+demo-loop\s+\w+\s+AWAITING_APPROVAL\s+approval_pending/);
    const intentList = JSON.parse(intents.stdout) as { items: { id: string; kind: string; stage: string; note: string }[] };
    const refused = intentList.items.find((i) => i.note === "audit me")!;
    expect(refused).toMatchObject({ kind: "APPROVE", stage: "REJECTED" });
    expect(audit.stdout).toMatch(/alice\s+APPROVE\s+REJECTED.*cli-complete\/demo-loop\s+audit me/);
    expect(run.stdout).toMatch(/^State:\s+AWAITING_APPROVAL \(/m);
    expect(run.stdout).toMatch(/Transitions \(latest 10\):\n\s+#\d+/);
    expect(parseYaml(sprite.stdout)).toMatchObject({ name: "cli-complete", transport: "LOCAL", runs: [{ state: "COMPLETE" }] });
    const described = await cli(["describe", "intent", refused.id]);
    expect(described.code).toBe(0);
    expect(described.stdout).toMatch(/Stage:\s+REJECTED \(PreconditionFailed\)/);
    expect(described.stdout).toMatch(/Note:\s+audit me/);
    const [acknowledged, removedToo, fleetIntents, noLabels] = await Promise.all([
      cli(["get", "interventions", "--include-acknowledged", "-o", "wide"]),
      cli(["get", "sprites", "--include-removed", "-o", "name"]),
      cli(["get", "intents", "--state", "COMPLETE", "-o", "json"]),
      cli(["get", "runs", "--label", "team=x"]),
    ]);
    expect(acknowledged.code, acknowledged.stderr).toBe(0);
    expect(acknowledged.stdout.split("\n")[0]).toMatch(/ACK\s+MESSAGE\s+RUN$/);
    expect(removedToo.stdout).toContain("sprite/cli-complete");
    expect(fleetIntents.code, fleetIntents.stderr).toBe(0);
    expect((JSON.parse(fleetIntents.stdout) as { items: { note: string | null }[] }).items.some((i) => i.note === "audit me")).toBe(true);
    // LOCAL Sprites have no labels (they come from the Sprites API): nothing matches
    expect(noLabels.code, noLabels.stderr).toBe(0);
    expect(noLabels.stdout).toBe("");
    expect(noLabels.stderr).toMatch(/No runs found/);
    const lines = eventsJson.stdout
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { line: number }).line);
    expect(lines).toEqual(lines.map((_, i) => i + 1));
    expect(events.stdout.trim().split("\n")).toHaveLength(lines.length);
    expect(
      eventsAfter.stdout
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as { line: number }).line),
    ).toEqual([3, 4]);
  }, 90_000);
});

describe("control", () => {
  it("bulk cancel by selector: one result per run, each followed to CONFIRMED; a mixed batch exits 1 with per-run codes", async () => {
    const repos = [emptyRepo(), emptyRepo()];
    for (const repo of repos) startSim(repo, { SIM_OUTCOME: "hang" });
    const runs = [await register(server, "bulk-a", repos[0], "demo-loop", TOKENS.admin), await register(server, "bulk-b", repos[1], "demo-loop", TOKENS.admin)];
    for (const r of runs)
      await waitFor(
        () => runState(server, r.id),
        (s) => s.state === "RUNNING" && s.stateReason !== "starting",
        15_000,
        "RUNNING",
      );

    const bulk = await cli(["cancel", "--state", "RUNNING", "--note", "bulk stop", "--wait", "--timeout", "30s", "-o", "json"]);
    expect(bulk.code, bulk.stderr).toBe(0);
    const doc = JSON.parse(bulk.stdout) as { kind: string; items: { ok: boolean; exit: number; run: { sprite: string }; intent: { kind: string; stage: string; note: string } }[] };
    expect(doc.kind).toBe("IntentResultList");
    expect(doc.items.map((i) => i.run.sprite).sort()).toEqual(["bulk-a", "bulk-b"]);
    for (const i of doc.items) expect(i).toMatchObject({ ok: true, exit: 0, intent: { kind: "CANCEL", stage: "CONFIRMED", note: "bulk stop" } });
    for (const r of runs) expect((await runState(server, r.id)).state).toBe("STOPPED");

    // named runs, mixed outcomes: both refused (now STOPPED, exit 2) and one unknown (exit 3) → overall 1
    const mixed = await cli(["cancel", "bulk-a", "no-such-run", "cli-complete"]);
    expect(mixed.code).toBe(1);
    const table = mixed.stdout.trim().split("\n");
    expect(table[0]).toMatch(/^SPRITE\s+LOOP\s+INTENT\s+STAGE\s+RESULT\s+EXIT\s+MESSAGE$/);
    expect(table.find((l) => l.startsWith("bulk-a"))).toMatch(/PreconditionFailed\s+2\s+cancel needs a RUNNING or PAUSED run/);
    expect(table.find((l) => l.startsWith("-"))).toMatch(/NotFound\s+3\s+no run or Sprite named no-such-run/);
    expect(table.find((l) => l.startsWith("cli-complete"))).toMatch(/PreconditionFailed\s+2/);
  }, 90_000);
});

describe("contexts, completion, version", () => {
  it("config set-context/use-context/get-contexts; the token comes from a file; OPSCTL_* override", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "opsctl-cfg-"));
    const env = { OPSCTL_CONFIG: path.join(dir, "config.json") };
    const tokenFile = path.join(dir, "token");
    writeFileSync(tokenFile, `${TOKENS.viewer}\n`, { mode: 0o600 });
    const none = { server: null, token: null, env };
    expect((await cli(["config", "set-context", "ci", "--server", server.url, "--token-file", tokenFile], none)).code).toBe(0);
    expect((await cli(["config", "set-context", "broken", "--server", "http://127.0.0.1:1/graphql"], none)).code).toBe(0);
    expect((await cli(["config", "use-context", "nope"], none)).code).toBe(3);
    expect((await cli(["config", "use-context", "ci"], none)).code).toBe(0);
    const contexts = await cli(["config", "get-contexts"], none);
    expect(contexts.stdout).toMatch(/^\*\s+ci\s+http/m);
    expect(contexts.stdout).toMatch(/^\s+broken\s+http/m);
    expect((readFileSync(env.OPSCTL_CONFIG, "utf8").match(/viewer-token/g) ?? []).length).toBe(0); // the token stays in its file
    const viaContext = await cli(["get", "runs", "-o", "name"], none);
    expect(viaContext.code, viaContext.stderr).toBe(0);
    expect(viaContext.stdout).toContain(approval.raw);
    // the viewer token from the file cannot control
    expect((await cli(["approve", "cli-approval"], none)).code).toBe(77);
    expect((await cli(["--context", "broken", "get", "runs"], none)).code).toBe(69);
    expect((await cli(["get", "runs", "--context", "broken"], { ...none, env: { ...env, OPSCTL_SERVER: server.url, OPSCTL_TOKEN: TOKENS.viewer } })).code).toBe(0);
    expect((await cli(["get", "runs", "--token-file", path.join(dir, "missing")], none)).code).toBe(64);
  }, 90_000);

  it("completion bash completes commands, subcommands, options and values in a real bash; zsh and fish scripts", async () => {
    const bash = await cli(["completion", "bash"], { server: null, token: null });
    expect(bash.code).toBe(0);
    const script = path.join(mkdtempSync(path.join(tmpdir(), "opsctl-compl-")), "opsctl.bash");
    writeFileSync(script, bash.stdout);
    const complete = (words: string[]) => {
      const r = spawnSync("bash", ["-c", `source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _opsctl; echo "\${COMPREPLY[*]}"`], {
        encoding: "utf8",
      });
      expect(r.stderr).toBe("");
      return r.stdout.trim().split(" ");
    };
    expect(complete(["opsctl", "ge"])).toEqual(["get"]);
    expect(complete(["opsctl", "get", ""])).toEqual(expect.arrayContaining(["runs", "sprites", "interventions", "intents", "audit"]));
    expect(complete(["opsctl", "get", "runs", "--st"])).toEqual(["--state"]);
    expect(complete(["opsctl", "get", "runs", "--state", "AWA"])).toEqual(["AWAITING_APPROVAL"]);
    expect(complete(["opsctl", "-o", "js"])).toEqual(["json", "jsonl", "jsonpath="]);
    expect(complete(["opsctl", "approve", "run-1", "--no-r"])).toEqual(["--no-resume"]);
    const [zsh, fish] = await Promise.all([cli(["completion", "zsh"], { server: null }), cli(["completion", "fish"], { server: null })]);
    expect(zsh.stdout).toMatch(/^#compdef opsctl\n/);
    expect(zsh.stdout).toContain("bashcompinit");
    expect(fish.stdout).toContain("complete -c opsctl -n '__fish_use_subcommand' -a 'get describe events watch wait cancel approve reject pause resume start restart");
    expect(fish.stdout).toContain("-l state -x -a 'AWAITING_APPROVAL");
  }, 90_000);

  it("version and --version", async () => {
    const pkg = JSON.parse(readFileSync(path.resolve(import.meta.dirname, "../../package.json"), "utf8")) as { version: string };
    const [v, flag, json] = await Promise.all([cli(["version"], { server: null }), cli(["--version"], { server: null }), cli(["version", "-o", "json"], { server: null })]);
    expect(v.stdout.trim()).toMatch(new RegExp(`^opsctl ${pkg.version} \\(node v`));
    expect(flag.stdout.trim()).toBe(pkg.version);
    expect(JSON.parse(json.stdout)).toMatchObject({ client: pkg.version });
  }, 90_000);
});

describe("installed as a bin", () => {
  const ROOT = path.resolve(import.meta.dirname, "../..");
  const run = (cmd: string, args: string[], cwd: string, env: Record<string, string> = {}) =>
    new Promise<Result>((resolve) => {
      const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      child.on("exit", (code) => resolve({ code, stdout, stderr }));
    });

  it("npx opsctl from the repo, from source and from the bundle; a packed tarball carries the bundle and runs it", async () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string; bin: Record<string, string> };
    expect(pkg.bin["opsctl"]).toBe("./bin/opsctl.mjs");
    const [npx, fromSource] = await Promise.all([run("npx", ["--no-install", "opsctl", "version"], ROOT), run(process.execPath, [OPSCTL, "version"], ROOT, { OPSCTL_FROM_SOURCE: "1" })]);
    expect(npx.code, npx.stderr).toBe(0);
    expect(npx.stdout).toMatch(new RegExp(`^opsctl ${pkg.version} `));
    expect(fromSource.stdout).toBe(npx.stdout);

    // what `npm i -g` unpacks: the tarball's files, with the dependencies beside them
    const dest = mkdtempSync(path.join(tmpdir(), "opsctl-pack-"));
    const packed = await run("npm", ["pack", "--json", "--pack-destination", dest], ROOT);
    expect(packed.code, packed.stderr).toBe(0);
    const [{ filename, files }] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("["))) as { filename: string; files: { path: string }[] }[];
    expect(files.map((f) => f.path)).toEqual(expect.arrayContaining(["bin/opsctl.mjs", "dist/opsctl/opsctl.mjs", "dist/opsctl/inputs.json", "cli/opsctl.ts"]));
    expect(files.map((f) => f.path).filter((f) => f.startsWith("node_modules/") || f.startsWith("src/generated/"))).toEqual([]);
    expect((await run("tar", ["xzf", path.join(dest, filename)], dest)).code).toBe(0);
    const installed = path.join(dest, "package");
    await import("node:fs").then((fs) => fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(installed, "node_modules")));
    const bin = path.join(installed, "bin", "opsctl.mjs");
    const [version, runs] = await Promise.all([
      run(process.execPath, [bin, "version"], tmpdir()),
      run(process.execPath, [bin, "get", "runs", "-o", "name"], tmpdir(), { OPSCTL_SERVER: server.url, OPSCTL_TOKEN: TOKENS.viewer }),
    ]);
    expect(version.stdout).toBe(npx.stdout);
    expect(runs.code, runs.stderr).toBe(0);
    expect(runs.stdout).toContain(`run/${approval.raw}`);
  }, 120_000);
});

describe("across a server restart", () => {
  it("events -f and wait keep going through a restart of the manager: resume after the last line, no duplicate", async () => {
    const databaseUrl = await createTestDatabase();
    const port = await freePort();
    const env = { DATABASE_URL: databaseUrl, PORT: String(port) };
    let restartable = await startControlServer(env);
    try {
      const run = await register(restartable, "restart-1", repoFromRecording("approval"), "demo-loop", TOKENS.admin);
      await waitFor(
        () => runState(restartable, run.id),
        (s) => s.state === "AWAITING_APPROVAL",
        15_000,
        "AWAITING_APPROVAL",
      );
      const url = restartable.url;
      const follower = start(["events", "restart-1", "-f", "-o", "jsonl"], { server: url });
      const waiter = start(["wait", "restart-1", "--for", "state=COMPLETE", "--timeout", "60s"], { server: url });
      const linesOf = () =>
        follower.stdout
          .trim()
          .split("\n")
          .filter(Boolean)
          .map((l) => (JSON.parse(l) as { line: number }).line);
      await waitFor(
        async () => linesOf().length,
        (n) => n > 0,
        20_000,
        "the replayed events",
      );
      await waitFor(
        async () => waiter.stderr,
        (e) => /waiting for restart-1\/demo-loop to be COMPLETE \(now AWAITING_APPROVAL\)/.test(e),
        20_000,
        "the waiter to listen",
      );
      const before = linesOf().length;

      await restartable.close();
      await waitFor(
        async () => follower.stderr,
        (s) => /reconnecting/.test(s),
        15_000,
        "the follower to notice",
      );
      restartable = await startControlServer(env);
      expect(restartable.url).toBe(url);

      // new events after the restart: approve (the loop runs again to completion)
      const approved = await cli(["approve", "restart-1", "--note", "after restart", "--wait", "--timeout", "30s"], { server: url });
      expect(approved.code, approved.stderr).toBe(0);
      const waited = await waiter.done;
      expect(waited.code, waited.stderr).toBe(0);
      expect(waited.stdout).toMatch(/restart-1\/demo-loop is COMPLETE/);

      const stored = await cli(["events", "restart-1", "-o", "jsonl"], { server: url });
      const all = stored.stdout
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as { line: number }).line);
      expect(all.length).toBeGreaterThan(before);
      await waitFor(
        async () => linesOf().length,
        (n) => n >= all.length,
        20_000,
        "the follower to catch up",
      );
      follower.stop();
      const followed = await follower.done;
      expect(followed.code).toBe(0);
      expect(linesOf()).toEqual(all); // every line once, in order, none lost at the restart
    } finally {
      await restartable.close();
    }
  }, 90_000);
});

describe("admin, the other intents, watch and wait", () => {
  it("register, update, reset-cursor, remove (admin only); reload-fleet refused without a fleet file", async () => {
    const repo = repoFromRecording("complete");
    const admin = { token: TOKENS.admin };
    const registered = await cli(["register", "adm-1", "--transport", "local", "--repo", repo, "--loop", "demo-loop", "-o", "name"], admin);
    expect(registered.code, registered.stderr).toBe(0);
    expect(registered.stdout.trim()).toBe("sprite/adm-1");
    const [asOperator, duplicate, badLoop, missingFlag] = await Promise.all([
      cli(["register", "adm-2", "--transport", "local", "--repo", repo, "--loop", "demo-loop"]),
      cli(["register", "adm-1", "--transport", "local", "--repo", repo, "--loop", "demo-loop"], admin),
      cli(["register", "adm-3", "--transport", "local", "--repo", repo, "--loop", "../escape"], admin),
      cli(["register", "adm-4", "--transport", "local", "--repo", repo], admin),
    ]);
    expect(asOperator.code).toBe(77);
    expect(duplicate.code).toBe(2);
    expect(duplicate.stderr).toMatch(/DuplicateName/);
    expect(badLoop.code).toBe(64);
    expect(missingFlag.code).toBe(64);
    expect(missingFlag.stderr).toMatch(/--loop/);

    const updated = await cli(["update", "adm-1", "--poll-interval-ms", "500", "--control-mode", "disabled", "-o", "json"], admin);
    expect(updated.code, updated.stderr).toBe(0);
    expect(JSON.parse(updated.stdout)).toMatchObject({ name: "adm-1", pollIntervalMs: 500, controlMode: "DISABLED" });
    expect((await cli(["update", "adm-1"], admin)).code).toBe(64); // nothing to change
    const disabled = await cli(["start", "adm-1"]);
    expect(disabled.code).toBe(2);
    expect(disabled.stderr).toMatch(/ControlDisabled/);

    const reset = await cli(["reset-cursor", "adm-1", "--mode", "adopt-current", "--note", "baseline", "-o", "json"], admin);
    expect(reset.code, reset.stderr).toBe(0);
    expect(JSON.parse(reset.stdout)).toMatchObject({ mode: "ADOPT_CURRENT" });
    const reload = await cli(["reload-fleet", "-o", "json"], admin);
    expect(reload.code).toBe(2);
    expect(JSON.parse(reload.stderr)).toMatchObject({ error: { type: "InvalidInput", exit: 2 } });

    expect((await cli(["remove", "run", "adm-1"], admin)).code).toBe(0);
    const removed = await cli(["remove", "sprite", "adm-1", "--purge"], admin);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toMatch(/sprite\/adm-1 removed .*purged/);
    expect((await cli(["describe", "sprite", "adm-1"])).code).toBe(3);
    expect((await cli(["remove", "sprite", "adm-1"], admin)).code).toBe(3);
  }, 90_000);

  it("pause/resume --wait, wait --for state, watch --until ends by itself; reject and wait --for intent=CONFIRMED", async () => {
    const repo = emptyRepo();
    startSim(repo, { SIM_OUTCOME: "hang" });
    const run = await register(server, "pr-1", repo, "demo-loop", TOKENS.admin);
    await waitFor(
      () => runState(server, run.id),
      (s) => s.state === "RUNNING" && s.stateReason !== "starting",
      15_000,
      "RUNNING",
    );
    // one run: ends at STOPPED (terminal); the fleet form (a selector) ends when every selected run is STOPPED
    const watchOne = start(["watch", "pr-1", "-o", "jsonl"], { token: TOKENS.viewer });
    const watchFleet = start(["watch", "--sprite", "pr-1", "--until", "STOPPED"], { token: TOKENS.viewer });
    await waitFor(
      async () => watchOne.stdout + watchFleet.stdout,
      () => watchOne.stdout.includes('"type":"state"') && /pr-1\/demo-loop/.test(watchFleet.stdout),
      20_000,
      "the watchers",
    );

    const paused = await cli(["pause", "pr-1", "--note", "hold", "--wait", "--timeout", "30s"]);
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toMatch(/PAUSE .* CONFIRMED/);
    expect((await cli(["wait", "pr-1", "--for", "state=PAUSED", "--timeout", "20s"])).code).toBe(0);
    const resumed = await cli(["resume", "pr-1", "--wait", "--timeout", "30s"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect((await cli(["wait", "pr-1", "--for", "intent=CONFIRMED", "--timeout", "20s"])).code).toBe(0);
    expect((await cli(["cancel", "pr-1", "--wait", "--timeout", "30s"])).code).toBe(0);

    const [one, fleet] = await Promise.all([watchOne.done, watchFleet.done]);
    expect(one.code, one.stderr).toBe(0);
    const lines = one.stdout.trim().split("\n");
    expect(new Set(lines).size).toBe(lines.length); // never a line twice
    const docs = lines.map((l) => JSON.parse(l) as { type: string; state?: string; kind?: string; stage?: string; seq?: number });
    expect(docs.filter((d) => d.type === "lifecycle").map((d) => d.state)).toEqual(expect.arrayContaining(["PAUSED", "RUNNING", "STOPPED"]));
    const seqs = docs.filter((d) => d.type !== "intent").map((d) => d.seq!);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(docs.some((d) => d.type === "intent" && d.kind === "CANCEL" && d.stage === "CONFIRMED")).toBe(true);
    expect(fleet.code, fleet.stderr).toBe(0);
    expect(fleet.stdout.split("\n")[0]).toMatch(/^TIME\s+RUN\s+EVENT\s+DETAIL$/);
    expect(fleet.stdout).toMatch(/PAUSED → RUNNING|RUNNING → PAUSED/);
    expect(fleet.stdout.trim().split("\n").pop()).toMatch(/→ STOPPED/);

    // reject, then wait for the latest intent to be CONFIRMED; a STOPPED run cannot become COMPLETE: exit 1
    const rj = await register(server, "rj-1", repoFromRecording("approval"), "demo-loop", TOKENS.admin);
    await waitFor(
      () => runState(server, rj.id),
      (s) => s.state === "AWAITING_APPROVAL",
      15_000,
      "AWAITING_APPROVAL",
    );
    expect((await cli(["reject", "rj-1", "--note", "not this one"])).code).toBe(0);
    const confirmed = await cli(["wait", "rj-1", "--for", "intent=CONFIRMED", "--timeout", "30s", "-o", "json"]);
    expect(confirmed.code, confirmed.stderr).toBe(0);
    expect(JSON.parse(confirmed.stdout)).toMatchObject({ ok: true, intent: { kind: "REJECT", stage: "CONFIRMED", note: "not this one" } });
    const never = await cli(["wait", "pr-1", "--for", "state=COMPLETE", "--timeout", "20s"]);
    expect(never.code).toBe(1);
    expect(never.stderr).toMatch(/ended STOPPED/);
    // RESTART (the API's intent for a run that died or was stopped): followed to CONFIRMED like the others
    const restarted = await cli(["restart", "pr-1", "--note", "again", "--wait", "--timeout", "30s", "-o", "json"]);
    expect(restarted.code, restarted.stderr).toBe(0);
    expect(JSON.parse(restarted.stdout)).toMatchObject({ items: [{ ok: true, intent: { kind: "RESTART", stage: "CONFIRMED", note: "again" } }] });
  }, 120_000);

  it("colour on a terminal only (and not with NO_COLOR)", async () => {
    expect(spawnSync("script", ["--version"]).status, "util-linux `script` provides the pseudo-terminal").toBe(0);
    // async: the server under test runs in this process, a spawnSync would stop it from answering
    const onTty = (env: string) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const cmd = `env -i PATH="$PATH" HOME=${home} ${env} OPSCTL_SERVER=${server.url} OPSCTL_TOKEN=${TOKENS.viewer} ${process.execPath} ${OPSCTL} get runs`;
        const child = spawn("script", ["-qec", cmd, "/dev/null"], { stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        child.stdout.on("data", (d) => (out += d));
        child.on("exit", (code) => resolve({ code, out }));
      });
    const coloured = await onTty("");
    expect(coloured.code, coloured.out).toBe(0);
    // eslint-disable-next-line no-control-regex -- an ANSI colour code is what is asserted
    expect(coloured.out).toMatch(/\u001b\[3[123]m(AWAITING_APPROVAL|COMPLETE|HEALTHY)/);
    const plain = await onTty("NO_COLOR=1");
    expect(plain.code).toBe(0);
    expect(plain.out).toMatch(/SPRITE/);
    expect(plain.out).not.toContain("\u001b[");
  }, 60_000);
});
