import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

// The import graph of the server (src/), the in-Sprite agent (agent/), the CLI (cli/), the demo fleet (demo/) and
// the runtime simulator (sim/), type imports included, has no cycle: services get their dependencies from
// src/server.ts as narrow interfaces, never by importing each other back. The agent runs alone in a Sprite: of the
// server it imports only the shared protocol (src/contract/), which imports nothing of ours outside itself.

const ROOT = path.resolve(import.meta.dirname, "../..");

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== "generated" && e.name !== "node_modules") sourceFiles(p, out);
    } else if (/\.(ts|mts|mjs)$/.test(e.name)) out.push(p);
  }
  return out;
}

function resolveImport(from: string, spec: string): string | null {
  const base = path.resolve(path.dirname(from), spec);
  for (const c of [base, `${base}.ts`, `${base}.mts`, `${base}.mjs`, path.join(base, "index.ts")]) if (existsSync(c) && statSync(c).isFile()) return c;
  return null;
}

const FOLDERS = ["src", "agent", "cli", "demo", "sim"];

const IMPORT = /(?:import|export)\s[^;]*?from\s+["'](\.{1,2}\/[^"']+)["']|import\s+["'](\.{1,2}\/[^"']+)["']|import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g;

function importGraph(): Map<string, string[]> {
  const files = FOLDERS.filter((d) => existsSync(path.join(ROOT, d))).flatMap((d) => sourceFiles(path.join(ROOT, d)));
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const deps = new Set<string>();
    for (const m of readFileSync(f, "utf8").matchAll(IMPORT)) {
      const target = resolveImport(f, m[1] ?? m[2] ?? m[3]);
      if (target && !target.includes(`${path.sep}generated${path.sep}`)) deps.add(target);
    }
    graph.set(f, [...deps]);
  }
  return graph;
}

/** Strongly connected components with more than one file (or a file importing itself): Tarjan's algorithm. */
function cycles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const stack: string[] = [];
  const onStack = new Set<string>();
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.map((f) => path.relative(ROOT, f)).sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe("import graph", () => {
  it("src/, agent/, cli/, demo/ and sim/ have no import cycle", () => {
    const graph = importGraph();
    expect(graph.size).toBeGreaterThan(100);
    expect(cycles(graph)).toEqual([]);
  });

  it("agent/ imports of the server only src/contract/, and src/contract/ nothing of ours outside itself", () => {
    const graph = importGraph();
    const under = (f: string, dir: string) => path.relative(ROOT, f).startsWith(`${dir}/`);
    const wrong: string[] = [];
    for (const [file, deps] of graph) {
      for (const dep of deps) {
        if (under(file, "agent") && !under(dep, "agent") && !under(dep, "src/contract")) wrong.push(`${path.relative(ROOT, file)} -> ${path.relative(ROOT, dep)}`);
        if (under(file, "src/contract") && !under(dep, "src/contract")) wrong.push(`${path.relative(ROOT, file)} -> ${path.relative(ROOT, dep)}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("the check finds a cycle when there is one", () => {
    const a = path.join(ROOT, "a.ts");
    const b = path.join(ROOT, "b.ts");
    expect(
      cycles(
        new Map([
          [a, [b]],
          [b, [a]],
        ]),
      ),
    ).toEqual([["a.ts", "b.ts"]]);
  });
});
