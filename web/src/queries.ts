// Every GraphQL document the dashboard sends, in one place: all of them are public API (schema.graphql).

const HEALTH = `health { status reasons { code severity message since } }`;

export const FLEET = `query Fleet {
  fleet { sprites runs needsIntervention byState { state count } byHealth { status count } }
}`;

export const RUNS = `query Runs {
  runs(first: 200) { edges { node {
    id loopId state stateReason stateSince iteration lastEventName lastEventAt
    ${HEALTH}
    sprite { name transport status }
  } } }
}`;

const INTERVENTION = `severity since suggestedActions
  reasons { code severity message since }
  run { id loopId state stateReason iteration sprite { name } ingest { status } }`;

export const INTERVENTIONS = `query Interventions { interventions { ${INTERVENTION} } }`;

export const INTERVENTIONS_CHANGED = `subscription InterventionsChanged {
  interventionsChanged { runId seq intervention { ${INTERVENTION} } }
}`;

export const LIFECYCLE_CHANGED = `subscription LifecycleChanged($filter: RunLifecycleFilter) {
  runLifecycleChanged(filter: $filter) {
    __typename
    ... on RunLifecycleChange { runId seq state previousState reason at }
    ... on ResyncRequired { reason }
  }
}`;

export const RUN = `query Run($id: ID!) {
  run(id: $id) {
    __typename
    ... on NotFound { message }
    ... on Run {
      id loopId repoPath state stateReason stateSince iteration runtimeRunId lastEventName lastEventAt seq approval
      ${HEALTH}
      ingest { status cursorLine lastError }
      divergence { open }
      sprite { name transport status }
      transitions(last: 100) { edges { node { id seq from to reason trigger actor at } } }
    }
  }
}`;

const INTENT = `id kind stage terminal requestedBy note error resumeAfterApprove requestedAt updatedAt stages { stage at observation }`;

// Run.intents and controlIntentUpdated come with the control service; the run page works without them.
export const RUN_INTENTS = `query RunIntents($id: ID!) {
  run(id: $id) { ... on Run { intents(first: 20) { edges { node { ${INTENT} } } } } }
}`;

export const INTENT_UPDATED = `subscription IntentUpdated($runId: ID) {
  controlIntentUpdated(runId: $runId) { ${INTENT} }
}`;

export const RUN_EVENTS = `subscription RunEvents($runId: ID!, $after: String) {
  runEvents(runId: $runId, after: $after) {
    cursor hasMore resyncRequired
    events { line name timestamp role status message iteration }
  }
}`;

const RESULT = `__typename ... on ControlIntent { ${INTENT} } ... on Error { message }`;

/** One mutation per action; every one returns ControlIntent | an Error type. */
export const ACTIONS = {
  APPROVE: `mutation Approve($runId: ID!, $note: String, $key: String) { result: approveRun(runId: $runId, note: $note, idempotencyKey: $key, resumeAfterApprove: true) { ${RESULT} } }`,
  REJECT: `mutation Reject($runId: ID!, $note: String, $key: String) { result: rejectRun(runId: $runId, note: $note, idempotencyKey: $key) { ${RESULT} } }`,
  CANCEL: `mutation Cancel($runId: ID!, $note: String, $key: String) { result: cancelRun(runId: $runId, note: $note, idempotencyKey: $key) { ${RESULT} } }`,
  PAUSE: `mutation Pause($runId: ID!, $note: String, $key: String) { result: pauseRun(runId: $runId, note: $note, idempotencyKey: $key) { ${RESULT} } }`,
  RESUME: `mutation Resume($runId: ID!, $note: String, $key: String) { result: resumeRun(runId: $runId, note: $note, idempotencyKey: $key) { ${RESULT} } }`,
  START: `mutation Start($runId: ID!, $note: String, $key: String) { result: startRun(runId: $runId, note: $note, idempotencyKey: $key) { ${RESULT} } }`,
  RESET_CURSOR: `mutation Reset($runId: ID!, $note: String, $mode: CursorResetMode!) {
    result: resetRunCursor(runId: $runId, note: $note, mode: $mode) {
      __typename ... on CursorReset { mode previousLine newLine } ... on Error { message }
    }
  }`,
} as const;

export type ActionKind = keyof typeof ACTIONS;
