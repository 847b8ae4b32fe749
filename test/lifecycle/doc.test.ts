import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { DIVERGENCE_FLAGS } from "../../src/lifecycle/divergence";
import { renderLifecycleDoc } from "../../src/lifecycle/doc";
import { HEALTH_REASON_CATALOG } from "../../src/lifecycle/health";
import { LIFECYCLE_RULES } from "../../src/lifecycle/rules";

const DOC = path.resolve(__dirname, "../../docs/lifecycle.md");

describe("docs/lifecycle.md", () => {
  it("is up to date (regenerate with `npx tsx scripts/gen-lifecycle-doc.ts`)", () => {
    expect(readFileSync(DOC, "utf8")).toBe(renderLifecycleDoc());
  });

  const doc = renderLifecycleDoc();
  it.each(LIFECYCLE_RULES.map((rule, index) => [index + 1, rule.id] as const))("lists rule %i `%s` in order", (index, id) => {
    expect(doc).toMatch(new RegExp(`^\\| ${index} \\| \`${id}\` \\|`, "m"));
  });
  it.each(DIVERGENCE_FLAGS.map((flag) => flag.name))("documents divergence flag %s", (name) => {
    expect(doc).toContain(`| \`${name}\` |`);
  });
  it.each(HEALTH_REASON_CATALOG.map((entry) => entry.code))("documents health reason %s", (code) => {
    expect(doc).toContain(`| \`${code}\` |`);
  });
  it("keeps runtime facts and manager interpretation in separate sections", () => {
    const runtime = doc.indexOf("## 1. Runtime facts");
    const manager = doc.indexOf("## 3. Manager interpretation");
    expect(runtime).toBeGreaterThan(-1);
    expect(manager).toBeGreaterThan(runtime);
  });
});
