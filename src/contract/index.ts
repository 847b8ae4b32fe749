export * from "./artifacts";
export * from "./v1";
export * from "./agent-api";
