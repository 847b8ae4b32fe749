// ESLint: typescript-eslint's strict type-checked rules over everything TypeScript in the repository (each file
// checked with the tsconfig that owns it: web/ has its own). The few rules turned off below say why.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const nodeGlobals = Object.fromEntries(
  ["process", "console", "Buffer", "URL", "URLSearchParams", "setTimeout", "clearTimeout", "setInterval", "clearInterval", "setImmediate", "TextEncoder", "TextDecoder", "AbortController", "fetch", "performance", "structuredClone"].map((g) => [g, "readonly"]),
);

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", "data/", "src/generated/", "test/fixtures/", "test/artifacts/"] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
  },
  {
    // Plain JavaScript entry points (bin/, the simulator, this file): no type information to check against.
    files: ["**/*.mjs", "**/*.js"],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: nodeGlobals },
  },
);
