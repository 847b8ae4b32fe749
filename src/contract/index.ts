export * from "./artifacts";
export * from "./v1";
export * from "./agent-api";
export * from "./adapter-error";
export * from "./agent-protocol";
