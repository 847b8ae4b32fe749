import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseWaitFor } from "../../cli/commands/wait";
import { DEFAULT_SERVER, resolveConnection } from "../../cli/config-file";
import { parseDuration } from "../../cli/context";
import { CliError, combineExits, EXIT, exitForStage, exitForTypename } from "../../cli/exit-codes";
import { jsonpath } from "../../cli/jsonpath";
import { age, parseFormat, table, type Printer } from "../../cli/output";
import { labelsOf, matchesLabels, parseSelector, rawId, stripKind } from "../../cli/selection";

// opsctl's pure parts as tables: what each input maps to. The process-level behaviour is in
// test/control/opsctl*.test.ts.

const code = (fn: () => unknown): number | "ok" => {
  try {
    fn();
    return "ok";
  } catch (e) {
    if (e instanceof CliError) return e.code;
    throw e;
  }
};

describe("exit codes", () => {
  it.each([
    ["NotFound", 3],
    ["PreconditionFailed", 2],
    ["ControlDisabled", 2],
    ["ControlFrozen", 2],
    ["PolicyViolation", 2],
    ["DuplicateName", 2],
    ["Unauthorized", 77],
    ["ValidationError", 64],
    ["InvalidInput", 64],
    ["BaseError", 1],
  ])("%s → %i", (typename, exit) => expect(exitForTypename(typename)).toBe(exit));

  it.each([
    ["CONFIRMED", false, 0],
    ["CONFIRMED", true, 0],
    ["AMBIGUOUS", true, 4],
    ["REJECTED", false, 2],
    ["FAILED", true, 1],
    ["DISPATCHED", false, 0], // accepted without --wait
    ["DISPATCHED", true, 4], // a wait that ended there proved nothing
    ["ACCEPTED", true, 4],
  ])("stage %s (waited %s) → %i", (stage, waited, exit) => expect(exitForStage(stage, waited)).toBe(exit));

  it.each([
    [[], 0],
    [[0, 0], 0],
    [[0, 2, 2], 2],
    [[3], 3],
    [[2, 3], 1],
    [[0, 4, 1], 1],
  ] as [(0 | 1 | 2 | 3 | 4)[], number][])("batch %j → %i", (codes, exit) => expect(combineExits(codes)).toBe(exit));

  it("every documented code is distinct", () => {
    const values = Object.values(EXIT);
    expect(new Set(values).size).toBe(values.length);
  });
});

describe("jsonpath (kubectl syntax)", () => {
  const doc = {
    items: [
      { id: "a", sprite: { name: "s1" }, n: 1, tags: ["x", "y"] },
      { id: "b", sprite: { name: "s2" }, n: 2, tags: [] },
    ],
    kind: "RunList",
  };
  it.each([
    ["{.kind}", "RunList"],
    [".kind", "RunList"],
    ["$.kind", "RunList"],
    ["{.items[*].id}", "a b"],
    ["{.items[0].sprite.name}", "s1"],
    ["{.items[-1].id}", "b"],
    ["{.items[0].tags}", '["x","y"]'],
    ["{.items[*]['id']}", "a b"],
    ["{..name}", "s1 s2"],
    ['{range .items[*]}{.id}={.n}{"\\n"}{end}', "a=1\nb=2\n"],
    ["id: {.items[1].id}!", "id: b!"],
    ["{.missing}", ""],
  ])("%s", (template, out) => expect(jsonpath(template, doc)).toBe(out));

  it.each(["{.items[", "{range .items[*]}{.id}", "{.items[?(@.n>1)]}", "{end}"])("rejects %s with exit 64", (t) => expect(code(() => jsonpath(t, doc))).toBe(64));
});

describe("output", () => {
  it.each([
    [undefined, "table"],
    ["wide", "wide"],
    ["json", "json"],
    ["jsonl", "jsonl"],
    ["yaml", "yaml"],
    ["name", "name"],
    ["jsonpath={.id}", "jsonpath"],
  ])("-o %s", (value, kind) => expect(parseFormat(value).kind).toBe(kind));

  it.each(["xml", "jsonpath=", "jsonpath={.a"])("-o %s is a usage error", (v) => expect(code(() => parseFormat(v))).toBe(64));

  const printer = (over: Partial<Printer> = {}): Printer => ({ format: { kind: "table" }, noHeaders: false, colour: false, out: () => {}, err: () => {}, ...over });
  const cols = [
    { header: "NAME", get: (r: { n: string; s: string }) => r.n },
    { header: "STATE", get: (r: { n: string; s: string }) => r.s, colour: () => "green" as const },
    { header: "MORE", get: () => "x", wide: true },
  ];
  const rows = [
    { n: "a", s: "RUNNING" },
    { n: "longer-name", s: "OK" },
  ];

  it("aligns columns on the widest cell, hides wide columns, colours without breaking the alignment", () => {
    expect(table(printer(), cols, rows)).toEqual(["NAME          STATE", "a             RUNNING", "longer-name   OK"]);
    expect(table(printer({ format: { kind: "wide" } }), cols, rows)[0]).toBe("NAME          STATE     MORE");
    expect(table(printer({ noHeaders: true }), cols, rows)).toEqual(["a             RUNNING", "longer-name   OK"]);
    const coloured = table(printer({ colour: true, format: { kind: "wide" } }), cols, rows);
    expect(coloured[1]).toBe("a             \u001b[32mRUNNING\u001b[39m   x");
    expect(coloured[2]).toBe("longer-name   \u001b[32mOK\u001b[39m        x");
  });

  it.each([
    [5, "5s"],
    [119, "119s"],
    [120, "2m"],
    [7199, "119m"],
    [7200, "2h"],
    [172_800, "2d"],
  ])("age of %i s is %s", (s, out) => expect(age(new Date(1_000_000_000_000 - s * 1000).toISOString(), 1_000_000_000_000)).toBe(out));
});

describe("selectors", () => {
  it("upper-cases and splits states and health, checks them", () => {
    expect(parseSelector({ state: ["running,awaiting_approval"], health: ["critical"], limit: "5" })).toEqual({
      state: ["RUNNING", "AWAITING_APPROVAL"],
      health: ["CRITICAL"],
      limit: 5,
    });
    expect(code(() => parseSelector({ state: ["SLEEPING"] }))).toBe(64);
    expect(code(() => parseSelector({ limit: "0" }))).toBe(64);
    expect(code(() => parseSelector({ label: ["=x"] }))).toBe(64);
  });

  it.each([
    [{ team: "x", env: "prod" }, ["team=x"], true],
    [{ team: "x", env: "prod" }, ["team=x", "env=prod"], true],
    [{ team: "y" }, ["team=x"], false],
    [[{ key: "team", value: "x" }], ["team=x"], true],
    [[{ name: "team", value: "x" }], ["team=y"], false],
    [null, ["team=x"], false],
    [{ empty: "" }, ["empty="], true],
    [["team=x", "gpu"], ["team=x"], true],
    [["team=x", "gpu"], ["gpu"], true],
    [["team=x"], ["gpu"], false],
    [["team=y"], ["team=x"], false],
  ])("labels %j match %j: %s", (labels, sel, match) => expect(matchesLabels(labels, sel)).toBe(match));

  it("labels as a list or a map read the same", () => expect(labelsOf([{ key: "a", value: 1 }])).toEqual(labelsOf({ a: "1" })));

  it.each([
    [Buffer.from("Run:0b6f0000-0000-4000-8000-000000000000").toString("base64"), "0b6f0000-0000-4000-8000-000000000000"],
    ["0b6f0000-0000-4000-8000-000000000000", "0b6f0000-0000-4000-8000-000000000000"],
  ])("rawId(%s)", (id, raw) => expect(rawId(id)).toBe(raw));

  it("run/<id> from -o name is accepted back", () => {
    expect(stripKind("run/abc", "run")).toBe("abc");
    expect(stripKind("sprite-7", "run")).toBe("sprite-7");
  });
});

describe("durations and wait conditions", () => {
  it.each([
    ["1500ms", 1500],
    ["30s", 30_000],
    ["30", 30_000],
    ["5m", 300_000],
    ["1h", 3_600_000],
    ["0.5s", 500],
  ])("%s = %i ms", (v, ms) => expect(parseDuration(v, "--timeout")).toBe(ms));
  it.each(["soon", "5 m", "-1s", "0s"])("%s is refused", (v) => expect(() => parseDuration(v, "--timeout")).toThrow(/--timeout/));

  it.each([
    ["state=COMPLETE", { kind: "state", states: ["COMPLETE"] }],
    ["state=complete,failed", { kind: "state", states: ["COMPLETE", "FAILED"] }],
    ["intent=CONFIRMED", { kind: "intent", stage: "CONFIRMED" }],
  ])("--for %s", (v, parsed) => expect(parseWaitFor(v)).toEqual(parsed));
  it.each(["state=DONE", "intent=CONFIRMED,FAILED", "phase=x", "COMPLETE"])("--for %s is a usage error", (v) => expect(code(() => parseWaitFor(v))).toBe(64));
});

describe("connection precedence", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "opsctl-conn-"));
  const tokenFile = path.join(dir, "t");
  writeFileSync(tokenFile, "from-file\n", { mode: 0o600 });
  const open = path.join(dir, "open");
  writeFileSync(open, "open-token", { mode: 0o644 });
  const config = { currentContext: "a", contexts: { a: { server: "http://a.example/graphql", tokenFile }, b: { server: "http://b.example/graphql" } } };
  const none = { currentContext: null, contexts: {} };

  it.each([
    ["defaults", {}, {}, none, DEFAULT_SERVER, undefined],
    ["the current context", {}, {}, config, "http://a.example/graphql", "from-file"],
    ["--context", { context: "b" }, {}, config, "http://b.example/graphql", undefined],
    ["OPSCTL_CONTEXT", {}, { OPSCTL_CONTEXT: "b" }, config, "http://b.example/graphql", undefined],
    ["OPSCTL_SERVER/OPSCTL_TOKEN over the context", {}, { OPSCTL_SERVER: "http://env/graphql", OPSCTL_TOKEN: "env-token" }, config, "http://env/graphql", "env-token"],
    ["flags over everything", { server: "http://flag/graphql", tokenFile }, { OPSCTL_SERVER: "http://env/graphql", OPSCTL_TOKEN: "env-token" }, none, "http://flag/graphql", "from-file"],
    ["OPS_URL/OPS_TOKEN (first version's names)", {}, { OPS_URL: "http://old/graphql", OPS_TOKEN: "old" }, none, "http://old/graphql", "old"],
    ["OPSCTL_* before OPS_*", {}, { OPS_URL: "http://old/graphql", OPSCTL_SERVER: "http://new/graphql" }, none, "http://new/graphql", undefined],
  ] as const)("%s", (_name, flags, env, cfg, server, token) => {
    const c = resolveConnection(flags, env, cfg);
    expect(c.server).toBe(server);
    expect(c.token).toBe(token);
  });

  it("an unknown --context, a bad URL, a missing token file are usage errors; a readable token file is warned about", () => {
    expect(code(() => resolveConnection({ context: "zz" }, {}, config))).toBe(64);
    expect(code(() => resolveConnection({ server: "ftp://x" }, {}, none))).toBe(64);
    expect(code(() => resolveConnection({ tokenFile: path.join(dir, "missing") }, {}, none))).toBe(64);
    expect(resolveConnection({ tokenFile: open }, {}, none).warnings[0]).toMatch(/readable by others/);
  });
});
