// Writes schema.graphql (the public contract) from the Pothos schema. `npm test` fails when it is stale.
import { writeFileSync } from "node:fs";
import { printedSchema } from "../src/graphql/schema";

writeFileSync(new URL("../schema.graphql", import.meta.url), printedSchema());
process.stdout.write("schema.graphql written\n");
