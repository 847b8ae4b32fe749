import { CliError, EXIT } from "./exit-codes";

// kubectl-style JSONPath templates: text with {expressions}, e.g. `{.items[*].id}` or `{.state}{"\n"}`.
// Supported: .field, ['field'], [n] (negative from the end), [*], ..field (recursive), and {range X}...{end}.
// Several results of one expression are joined by spaces, as kubectl does.

type Step = { kind: "field"; name: string } | { kind: "index"; index: number } | { kind: "all" } | { kind: "deep"; name: string };
type Part = { kind: "text"; text: string } | { kind: "expr"; steps: Step[] } | { kind: "range"; steps: Step[]; body: Part[] };

export function parseSteps(expr: string): Step[] {
  const steps: Step[] = [];
  let s = expr.trim();
  if (s.startsWith("$")) s = s.slice(1);
  let i = 0;
  const ident = () => {
    const m = /^[A-Za-z_$][\w$-]*/.exec(s.slice(i));
    if (!m) throw new CliError(`jsonpath: expected a field name at "${s.slice(i)}" in ${expr}`, EXIT.usage);
    i += m[0].length;
    return m[0];
  };
  while (i < s.length) {
    if (s.startsWith("..", i)) {
      i += 2;
      steps.push({ kind: "deep", name: ident() });
    } else if (s[i] === ".") {
      i += 1;
      if (i < s.length && s[i] !== "[") steps.push({ kind: "field", name: ident() });
    } else if (s[i] === "[") {
      const end = s.indexOf("]", i);
      if (end < 0) throw new CliError(`jsonpath: unclosed [ in ${expr}`, EXIT.usage);
      const inner = s.slice(i + 1, end).trim();
      i = end + 1;
      if (inner === "*") steps.push({ kind: "all" });
      else if (/^-?\d+$/.test(inner)) steps.push({ kind: "index", index: Number(inner) });
      else if (/^'[^']*'$|^"[^"]*"$/.test(inner)) steps.push({ kind: "field", name: inner.slice(1, -1) });
      else throw new CliError(`jsonpath: unsupported [${inner}] in ${expr}`, EXIT.usage);
    } else {
      throw new CliError(`jsonpath: unexpected "${s[i]}" in ${expr}`, EXIT.usage);
    }
  }
  return steps;
}

export function evaluate(steps: readonly Step[], root: unknown): unknown[] {
  let current: unknown[] = [root];
  for (const step of steps) {
    const next: unknown[] = [];
    for (const v of current) {
      if (step.kind === "field") {
        if (v && typeof v === "object" && !Array.isArray(v) && step.name in v) next.push((v as Record<string, unknown>)[step.name]);
      } else if (step.kind === "index") {
        if (Array.isArray(v)) {
          const at = step.index < 0 ? v.length + step.index : step.index;
          if (at >= 0 && at < v.length) next.push(v[at]);
        }
      } else if (step.kind === "all") {
        if (Array.isArray(v)) next.push(...(v as unknown[]));
        else if (v && typeof v === "object") next.push(...Object.values(v as Record<string, unknown>));
      } else {
        collectDeep(v, step.name, next);
      }
    }
    current = next;
  }
  return current;
}

function collectDeep(v: unknown, name: string, out: unknown[]): void {
  if (Array.isArray(v)) for (const x of v) collectDeep(x, name, out);
  else if (v && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) {
      if (k === name) out.push(x);
      collectDeep(x, name, out);
    }
  }
}

function parseTemplate(template: string): Part[] {
  const stack: Part[][] = [[]];
  const ranges: Step[][] = [];
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf("{", i);
    if (open < 0) {
      stack[stack.length - 1].push({ kind: "text", text: template.slice(i) });
      break;
    }
    if (open > i) stack[stack.length - 1].push({ kind: "text", text: template.slice(i, open) });
    const close = closingBrace(template, open);
    const inner = template.slice(open + 1, close).trim();
    i = close + 1;
    if (/^"(?:[^"\\]|\\.)*"$/.test(inner)) {
      stack[stack.length - 1].push({ kind: "text", text: JSON.parse(inner) as string });
    } else if (inner.startsWith("range ")) {
      ranges.push(parseSteps(inner.slice(6)));
      stack.push([]);
    } else if (inner === "end") {
      const body = stack.pop();
      const steps = ranges.pop();
      if (!body || !steps || stack.length === 0) throw new CliError(`jsonpath: {end} without {range}`, EXIT.usage);
      stack[stack.length - 1].push({ kind: "range", steps, body });
    } else {
      stack[stack.length - 1].push({ kind: "expr", steps: parseSteps(inner) });
    }
  }
  if (stack.length !== 1) throw new CliError(`jsonpath: {range} without {end}`, EXIT.usage);
  return stack[0];
}

function closingBrace(s: string, open: number): number {
  let inString = false;
  for (let i = open + 1; i < s.length; i++) {
    const c = s[i];
    if (c === "\\" && inString) i++;
    else if (c === '"') inString = !inString;
    else if (c === "}" && !inString) return i;
  }
  throw new CliError(`jsonpath: unclosed { in ${s}`, EXIT.usage);
}

function scalar(v: unknown): string {
  if (v === null || v === undefined) return "";
  // values come from JSON: a number or boolean prints the same through JSON.stringify as through String
  return typeof v === "string" ? v : JSON.stringify(v);
}

function render(parts: readonly Part[], root: unknown): string {
  let out = "";
  for (const p of parts) {
    if (p.kind === "text") out += p.text;
    else if (p.kind === "expr") out += evaluate(p.steps, root).map(scalar).join(" ");
    else for (const item of evaluate(p.steps, root)) out += render(p.body, item);
  }
  return out;
}

/** Applies a template (a bare expression like `.items[*].id` is taken as `{.items[*].id}`). */
export function jsonpath(template: string, value: unknown): string {
  const t = template.includes("{") ? template : `{${template}}`;
  return render(parseTemplate(t), value);
}
