import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { printedSchema } from "../src/graphql/schema";

it("schema.graphql is current (run `npm run schema:print`)", () => {
  expect(readFileSync(new URL("../schema.graphql", import.meta.url), "utf8")).toBe(printedSchema());
});
