import { readdirSync, readFileSync } from "node:fs";

// CPU seconds spent so far by this process's threads and its descendant processes (Linux /proc), grouped by
// name: what each stage of a bench costs the machine, not only this process (the database and the sinks run in
// other processes). A descendant counts with the time of its children that have exited (cutime, cstime): the
// database's backends and autovacuum workers come and go, and their time must not vanish from the sum.

const TICK = 100; // USER_HZ on Linux

function statOf(file: string): { ppid: number; comm: string; cpu: number; exitedChildrenCpu: number } | null {
  try {
    const s = readFileSync(file, "utf8");
    const close = s.lastIndexOf(")");
    const comm = s.slice(s.indexOf("(") + 1, close);
    const f = s.slice(close + 2).split(" ");
    return { ppid: Number(f[1]), comm, cpu: (Number(f[11]) + Number(f[12])) / TICK, exitedChildrenCpu: (Number(f[13]) + Number(f[14])) / TICK };
  } catch {
    return null;
  }
}

export type CpuSnapshot = Record<string, number>;

/** Per thread of this process ("main", "worker:<name>", ...) and per descendant process (its comm or label). */
export function cpuSnapshot(labels: ReadonlyMap<number, string> = new Map()): CpuSnapshot {
  const out: CpuSnapshot = {};
  const add = (k: string, v: number) => (out[k] = (out[k] ?? 0) + v);
  for (const tid of readdirSync("/proc/self/task")) {
    const st = statOf(`/proc/self/task/${tid}/stat`);
    if (st) add(Number(tid) === process.pid ? "node:main" : `node:${st.comm}`, st.cpu);
  }
  const children = new Map<number, number[]>();
  const stats = new Map<number, { comm: string; cpu: number; exitedChildrenCpu: number }>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    const st = statOf(`/proc/${d}/stat`);
    if (!st) continue;
    stats.set(Number(d), st);
    const list = children.get(st.ppid) ?? [];
    list.push(Number(d));
    children.set(st.ppid, list);
  }
  const walk = (pid: number, label: string | null) => {
    for (const c of children.get(pid) ?? []) {
      const st = stats.get(c)!;
      const l = labels.get(c) ?? label ?? (st.comm.startsWith("postgres") ? "postgres" : st.comm);
      add(l, st.cpu + st.exitedChildrenCpu);
      walk(c, l);
    }
  };
  walk(process.pid, null);
  return out;
}

export function cpuDelta(a: CpuSnapshot, b: CpuSnapshot): CpuSnapshot {
  const out: CpuSnapshot = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) out[k] = Math.round(((b[k] ?? 0) - (a[k] ?? 0)) * 100) / 100;
  return out;
}
