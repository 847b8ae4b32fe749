import { GraphQLError, Kind, parse, type DocumentNode, type FragmentDefinitionNode, type SelectionSetNode, type ValueNode } from "graphql";
import { z } from "zod";

// Limits checked on the parsed document BEFORE validation. GraphQL validation is not linear (overlapping-field
// checks are quadratic in the fields of a selection set), so a small document may cost seconds to validate: these
// checks are one linear walk (fragments are measured once each), and each refusal is a named error.

export interface QueryLimits {
  /** lexer tokens in the document (the parser stops at the first one past it) */
  tokens: number;
  /** nesting of selection sets, fragments expanded */
  depth: number;
  /** aliased fields, fragments expanded */
  aliases: number;
  /** field selections, fragments expanded (not multiplied by page sizes) */
  fields: number;
  /** directives used anywhere in the document */
  directives: number;
  /** estimated work: each field costs 1, and a field's selection costs as many times as the page it asks for */
  cost: number;
}

export const DEFAULT_QUERY_LIMITS: QueryLimits = { tokens: 30_000, depth: 20, aliases: 50, fields: 1_000, directives: 50, cost: 50_000 };

/**
 * A page size given by a variable counts as the largest page any connection serves (Run.events: 500): the
 * verdict depends on the document alone, so Yoga's parse cache can keep it.
 */
export const UNKNOWN_PAGE_SIZE = 500;
/** A page size argument is never counted above this (the resolvers cap pages well below it). */
const MAX_COUNTED_PAGE = 10_000;

export type LimitCode = "MAX_TOKENS" | "MAX_DEPTH" | "MAX_ALIASES" | "MAX_FIELDS" | "MAX_DIRECTIVES" | "QUERY_TOO_COSTLY" | "FRAGMENT_CYCLE";

export class QueryLimitError extends GraphQLError {
  constructor(
    readonly code: LimitCode,
    readonly limit: number,
    message: string,
  ) {
    super(message, { extensions: { code, limit, http: { status: 400 } } });
  }
}

const LIMIT_KEYS = ["tokens", "depth", "aliases", "fields", "directives", "cost"] as const;

/** "cost=20000,aliases=10": overrides of DEFAULT_QUERY_LIMITS (OPS_QUERY_LIMITS). */
export const queryLimitsSpec = z.string().regex(new RegExp(`^((${LIMIT_KEYS.join("|")})=\\d+)(,(${LIMIT_KEYS.join("|")})=\\d+)*$`), `expected key=number,... (keys: ${LIMIT_KEYS.join(" ")})`);

export function parseQueryLimits(spec: string | undefined): QueryLimits {
  const out = { ...DEFAULT_QUERY_LIMITS };
  for (const part of (spec ?? "").split(",").filter(Boolean)) {
    const [key, value] = part.split("=") as [keyof QueryLimits, string];
    out[key] = Math.max(1, Number(value));
  }
  return out;
}

interface Measure {
  depth: number;
  aliases: number;
  fields: number;
  cost: number;
}

const ZERO: Measure = { depth: 0, aliases: 0, fields: 0, cost: 0 };
const add = (a: Measure, b: Measure): Measure => ({ depth: Math.max(a.depth, b.depth), aliases: a.aliases + b.aliases, fields: a.fields + b.fields, cost: a.cost + b.cost });

function pageSize(args: readonly { name: { value: string }; value: ValueNode }[] | undefined): number {
  let size = 1;
  for (const arg of args ?? []) {
    if (arg.name.value !== "first" && arg.name.value !== "last") continue;
    const n = arg.value.kind === Kind.INT ? Number(arg.value.value) : UNKNOWN_PAGE_SIZE;
    size = Math.max(size, Math.min(MAX_COUNTED_PAGE, Math.max(1, Math.trunc(n))));
  }
  return size;
}

/**
 * Measures an already parsed document; returns the first limit it breaks, or null. Saturating numbers: a
 * fragment used twice in a fragment used twice ... cannot overflow into a small cost.
 */
export function checkDocument(document: DocumentNode, limits: QueryLimits): QueryLimitError | null {
  const fragments = new Map<string, FragmentDefinitionNode>();
  let directives = 0;
  for (const def of document.definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
  const memo = new Map<string, Measure>();
  const visiting = new Set<string>();
  let cycle: string | null = null;

  const selectionSet = (set: SelectionSetNode): Measure => {
    let m = ZERO;
    for (const sel of set.selections) {
      directives += sel.directives?.length ?? 0;
      if (sel.kind === Kind.FIELD) {
        const child = sel.selectionSet ? selectionSet(sel.selectionSet) : ZERO;
        const mult = sel.selectionSet ? pageSize(sel.arguments) : 1;
        m = add(m, {
          depth: child.depth + 1,
          aliases: (sel.alias ? 1 : 0) + child.aliases,
          fields: 1 + child.fields,
          cost: Math.min(Number.MAX_SAFE_INTEGER, 1 + mult * child.cost),
        });
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        m = add(m, selectionSet(sel.selectionSet));
      } else {
        m = add(m, fragment(sel.name.value));
      }
      if (m.cost > limits.cost || m.fields > limits.fields) return m; // enough to refuse: the walk stays bounded
    }
    return m;
  };
  const fragment = (name: string): Measure => {
    const known = memo.get(name);
    if (known) return known;
    const def = fragments.get(name);
    if (!def) return ZERO; // validation names unknown fragments
    if (visiting.has(name)) {
      cycle = name;
      return ZERO;
    }
    visiting.add(name);
    directives += def.directives?.length ?? 0;
    const m = selectionSet(def.selectionSet);
    visiting.delete(name);
    memo.set(name, m);
    return m;
  };

  let total = ZERO;
  for (const def of document.definitions) {
    if (def.kind !== Kind.OPERATION_DEFINITION) continue;
    directives += def.directives?.length ?? 0;
    total = add(total, selectionSet(def.selectionSet));
  }
  if (cycle) return new QueryLimitError("FRAGMENT_CYCLE", 0, `fragment "${cycle}" spreads itself`);
  if (total.depth > limits.depth) return new QueryLimitError("MAX_DEPTH", limits.depth, `query depth ${total.depth} exceeds the limit of ${limits.depth}`);
  if (total.cost > limits.cost) return new QueryLimitError("QUERY_TOO_COSTLY", limits.cost, `query cost exceeds the limit of ${limits.cost} (each field counts once per item of the pages it is in)`);
  if (total.aliases > limits.aliases) return new QueryLimitError("MAX_ALIASES", limits.aliases, `more than ${limits.aliases} aliases`);
  if (total.fields > limits.fields) return new QueryLimitError("MAX_FIELDS", limits.fields, `more than ${limits.fields} field selections`);
  if (directives > limits.directives) return new QueryLimitError("MAX_DIRECTIVES", limits.directives, `more than ${limits.directives} directives`);
  return null;
}

/** graphql's parse with a token budget: the lexer stops at the first token past it, whatever the document's size. */
export function parseWithinLimits(source: string, limits: QueryLimits): DocumentNode {
  try {
    return parse(source, { maxTokens: limits.tokens });
  } catch (e) {
    if (e instanceof GraphQLError && /Document contains more th.. \d+ tokens/.test(e.message)) {
      throw new QueryLimitError("MAX_TOKENS", limits.tokens, `document has more than ${limits.tokens} tokens`);
    }
    throw e;
  }
}
