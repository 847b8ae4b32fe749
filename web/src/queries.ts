// Every GraphQL document the dashboard sends, in one place: all of them are public API (schema.graphql).

const HEALTH = `health { status reasons { code severity message since } }`;

export const FLEET = `query Fleet {
  fleet { sprites runs needsIntervention byState { state count } byHealth { status count } }
}`;

/** Fleet sparklines: 30 buckets of 10 s = the last 5 minutes. */
export const SPARK_BUCKETS = 30;
export const SPARK_SECONDS = 10;

export const RUNS = `query Runs {
  runs(first: 200) { edges { node {
    id loopId state stateReason stateSince iteration lastEventName lastEventAt
    ${HEALTH}
    sprite { name transport status }
    restartCount maxIterations
    signOff { allGreen approvalSkipped promiseMatched gates { name verdict } }
    eventRate(buckets: ${SPARK_BUCKETS}, bucketSeconds: ${SPARK_SECONDS})
    stateSpans(hours: 24) { state from to }
  } } }
}`;

/** The same without the history fields, for a server that does not have them. */
export const RUNS_BASIC = `query RunsBasic {
  runs(first: 200) { edges { node {
    id loopId state stateReason stateSince iteration lastEventName lastEventAt
    ${HEALTH}
    sprite { name transport status }
  } } }
}`;

const INTERVENTION = `severity since suggestedActions acknowledgement { kind by note until createdAt }
  reasons { code severity message since }
  run { id loopId state stateReason iteration sprite { name } ingest { status } }`;

export const INTERVENTIONS = `query Interventions { interventions { ${INTERVENTION} } }`;

export const RECENTLY_RESOLVED = `query RecentlyResolved { recentlyResolved(hours: 24, first: 15) {
  at kind by note until outcome run { id loopId state stateReason sprite { name } }
} }`;

export const ACKNOWLEDGE = `mutation Ack($runId: ID!, $note: String, $snooze: Int) {
  result: acknowledgeIntervention(runId: $runId, note: $note, snoozeMinutes: $snooze) {
    __typename ... on InterventionAck { kind by until } ... on Error { message }
  }
}`;

export const INTERVENTIONS_CHANGED = `subscription InterventionsChanged {
  interventionsChanged {
    __typename
    ... on InterventionChange { runId seq intervention { ${INTERVENTION} } }
    ... on ResyncRequired { reason }
  }
}`;

export const LIFECYCLE_CHANGED = `subscription LifecycleChanged($filter: RunLifecycleFilter, $afterSeq: Int) {
  runLifecycleChanged(filter: $filter, afterSeq: $afterSeq) {
    __typename
    ... on RunLifecycleChange { runId seq state previousState reason at }
    ... on ResyncRequired { reason }
    ... on NotFound { message }
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
      eventsRetainedFrom archive { file lines }
      divergence { open }
      sprite { name transport status }
      transitions(last: 100) { edges { node { id seq from to reason trigger actor at } } }
      restartCount maxIterations
      attempts { index runtimeRunId startedAt endedAt outcome stopReason stoppedBy startedBy intentKind restart firstIteration lastIteration maxIterations }
      signOff {
        allGreen promiseMatched promiseExpected testsMode approvalSkipped completionOk
        gates { name status verdict }
        approval { status by note at source }
      }
      roleSpans(lastIterations: 12) { attempt iteration role startedAt endedAt durationMs status }
    }
  }
}`;

/** A run's recent intents' stages: how an action's status line catches a stage it was not pushed. */
export const INTENT_STAGES = `query IntentStages($runId: ID!) { run(id: $runId) { ... on Run { intents(first: 20) { edges { node { id stage error } } } } } }`;

export const SPRITES = `query Sprites { sprites(first: 200) { edges { node {
  name transport status controlMode pollIntervalMs healthProfile agentUrl agentTokenEnv spritesApiName
  runs(first: 5) { edges { node { id loopId repoPath state } } }
} } } }`;

/** Whether any Sprite is a demo Sprite (the field exists on servers with demo isolation). */
export const DEMO_SPRITES = `query DemoSprites { sprites(first: 200) { edges { node { name demo } } } }`;

export const REGISTER_SPRITE = `mutation Register($input: RegisterSpriteInput!) {
  result: registerSprite(input: $input) {
    __typename ... on RegisterSpritePayload { sprite { name } run { id } } ... on Error { message }
    ... on ValidationError { issues { path message } }
  }
}`;

export const UPDATE_SPRITE = `mutation Update($name: String!, $input: UpdateSpriteInput!) {
  result: updateSprite(name: $name, input: $input) {
    __typename ... on Sprite { name } ... on Error { message } ... on ValidationError { issues { path message } }
  }
}`;

export const REMOVE_SPRITE = `mutation Remove($name: String!, $purge: Boolean) {
  result: removeSprite(name: $name, purge: $purge) { __typename ... on RemoveSpritePayload { name purged removedRuns } ... on Error { message } }
}`;

const INTENT = `id kind stage terminal requestedBy note error resumeAfterApprove requestedAt updatedAt stages { stage at observation }`;

// Run.intents and controlIntentUpdated come with the control service; the run page works without them.
export const RUN_INTENTS = `query RunIntents($id: ID!) {
  run(id: $id) { ... on Run { intents(first: 20) { edges { node { ${INTENT} } } } } }
}`;

export const INTENT_UPDATED = `subscription IntentUpdated($runId: ID) {
  controlIntentUpdated(runId: $runId) {
    __typename
    ... on ControlIntent { ${INTENT} }
    ... on ResyncRequired { reason }
    ... on NotFound { message }
  }
}`;

export const RUN_EVENTS = `subscription RunEvents($runId: ID!, $after: String) {
  runEvents(runId: $runId, after: $after) {
    __typename
    ... on RunEventsBatch { cursor hasMore events { line name timestamp role status message iteration } }
    ... on ResyncRequired { lastCursor }
    ... on NotFound { message }
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
  RESTART: `mutation Restart($runId: ID!, $note: String, $key: String) { result: restartRun(runId: $runId, note: $note, idempotencyKey: $key) { ${RESULT} } }`,
  RESET_CURSOR: `mutation Reset($runId: ID!, $note: String, $mode: CursorResetMode!) {
    result: resetRunCursor(runId: $runId, note: $note, mode: $mode) {
      __typename ... on CursorReset { mode previousLine newLine } ... on Error { message }
    }
  }`,
} as const;

export type ActionKind = keyof typeof ACTIONS;
