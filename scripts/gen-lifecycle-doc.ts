import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { renderLifecycleDoc } from "../src/lifecycle/doc";

// Regenerates docs/lifecycle.md from the rule table: `npx tsx scripts/gen-lifecycle-doc.ts`.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const target = path.join(root, "docs", "lifecycle.md");
writeFileSync(target, renderLifecycleDoc());
console.log(`wrote ${path.relative(root, target)}`);
