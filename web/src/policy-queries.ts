// The Policies page's GraphQL documents and the shapes they answer (public API: schema.graphql).

export interface PolicyCandidateRow {
  id: string;
  rule: string;
  runId: string;
  run: { id: string; loopId: string; sprite: { name: string } } | null;
  action: string;
  detail: string;
  status: string;
  eligible: boolean;
  reasons: { code: string; message: string }[];
  since: string;
  executedBy: string | null;
  executedAuto: boolean;
  executedAt: string | null;
  suppressedBy: string | null;
  suppressedNote: string | null;
  intent: { id: string; stage: string } | null;
}

export interface PolicyPage {
  policy: {
    version: number;
    mode: string;
    effectiveMode: string;
    reviewExpired: boolean;
    reviewBy: string | null;
    rationale: string | null;
    source: string | null;
    actor: string | null;
    rules: { id: string; mode: string; action: string; severity: string; condition: Record<string, unknown> }[];
  };
  policyRuntime: { killSwitch: boolean; killSwitchSource: string | null; paused: string | null; pausedReason: string | null };
  policyCandidates: PolicyCandidateRow[];
  policyActions: PolicyCandidateRow[];
}

const CANDIDATE = `id rule runId run { id loopId sprite { name } } action detail status eligible reasons { code message } since
  executedBy executedAuto executedAt suppressedBy suppressedNote intent { id stage }`;

export const POLICY_PAGE = `query PolicyPage {
  policy { version mode effectiveMode reviewExpired reviewBy rationale source actor rules { id mode action severity condition } }
  policyRuntime { killSwitch killSwitchSource paused pausedReason }
  policyCandidates { ${CANDIDATE} }
  policyActions(first: 30) { ${CANDIDATE} }
}`;

export const POLICY_CANDIDATES_CHANGED = `subscription PolicyCandidates { policyCandidatesChanged { id status } }`;
export const POLICY_INTENTS_UPDATED = `subscription PolicyIntents { controlIntentUpdated { id stage requestedBy } }`;

const ANSWER = `__typename ... on Error { message } ... on CandidateNotOpen { status }`;
export const EXECUTE_CANDIDATE = `mutation ExecuteCandidate($id: ID!) { r: executeCandidate(id: $id) { ${ANSWER} } }`;
export const SUPPRESS_CANDIDATE = `mutation SuppressCandidate($id: ID!, $note: String!) { r: suppressCandidate(id: $id, note: $note) { ${ANSWER} } }`;
export const SET_KILL_SWITCH = `mutation KillSwitch($on: Boolean!) { r: setPolicyKillSwitch(on: $on) { __typename ... on Error { message } } }`;
export const SET_AUTOMATION_PAUSED = `mutation Paused($paused: Boolean!) { r: setPolicyAutomationPaused(paused: $paused) { __typename ... on Error { message } } }`;
