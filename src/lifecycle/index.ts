export * from "./types";
export { projectLifecycle, matchRule, isStale } from "./project";
export { LIFECYCLE_RULES } from "./rules";
export { detectDivergence, hasDivergence, raisedFlags, DIVERGENCE_FLAGS } from "./divergence";
export { latestRunIdentity, type RunIdentity, type RunIdSource } from "./identity";
export {
  emptyEventFacts,
  foldEventFacts,
  summarizeEvents,
  isActivePhaseEvent,
  STOP_EVENTS,
  type EventRecord,
} from "./event-facts";
export * from "./thresholds";
export * from "./health";
export * from "./interventions";
export { renderLifecycleDoc } from "./doc";
