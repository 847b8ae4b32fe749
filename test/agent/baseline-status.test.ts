import { describe, expect, it } from "vitest";
import { baselineStatus, type BaselineInputs } from "../../agent";

const base: BaselineInputs = { loopId: "demo-loop", state: null, approval: null, lastSummary: null, lastEvent: null };

describe("baselineStatus (docs/contract.md, first match wins)", () => {
  it.each<[string, Partial<BaselineInputs>, string]>([
    ["nothing known", {}, "unknown"],
    ["pending approval beats everything", { approval: { status: "pending" }, lastSummary: { completion_ok: true }, state: { active: true, current_loop_id: "demo-loop" } }, "awaiting_approval"],
    ["completion beats running", { lastSummary: { completion_ok: true }, state: { active: true, current_loop_id: "demo-loop" } }, "complete"],
    ["approved (not pending) approval does not wait", { approval: { status: "approved" }, state: { active: false }, lastSummary: { completion_ok: false } }, "idle"],
    ["active state for this loop", { state: { active: true, current_loop_id: "demo-loop" }, lastEvent: { name: "loop_stop", status: null } }, "running"],
    ["active state for another loop is not running", { state: { active: true, current_loop_id: "other" }, lastEvent: { name: "role_start", status: null } }, "unknown"],
    ["loop_stop", { lastEvent: { name: "loop_stop", status: null } }, "stopped"],
    ["rate_limit_stop", { lastEvent: { name: "rate_limit_stop", status: "rate_limited" } }, "stopped"],
    ["no_progress_stop", { lastEvent: { name: "no_progress_stop", status: "blocked" } }, "stopped"],
    ["status error", { lastEvent: { name: "role_end", status: "error" } }, "failed"],
    ["status timeout", { lastEvent: { name: "role_timeout", status: "timeout" } }, "failed"],
    ["status blocked", { lastEvent: { name: "x", status: "blocked" } }, "failed"],
    ["status rate_limited", { lastEvent: { name: "x", status: "rate_limited" } }, "failed"],
    ["inactive state + summary", { state: { active: false }, lastSummary: { completion_ok: false } }, "idle"],
    ["inactive state without summary", { state: { active: false } }, "unknown"],
    ["cancel deleted state: no event, no state", { lastSummary: { completion_ok: false }, lastEvent: { name: "role_start", status: null } }, "unknown"],
  ])("%s", (_name, inputs, expected) => {
    expect(baselineStatus({ ...base, ...inputs })).toBe(expected);
  });
});
