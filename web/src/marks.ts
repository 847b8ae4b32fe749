import type { SignOff } from "./types";

// "Did it complete safely?" in a few words, the same on the fleet row and the run page. Free of the DOM.

export interface CompletionMark {
  /** short words for the badge */
  text: string;
  /** the full sentence for the hover / screen reader */
  detail: string;
  kind: "unverified" | "no-approval" | "restarted";
}

export function completionMarks(state: string, signOff: SignOff | null | undefined, restartCount: number | undefined): CompletionMark[] {
  const out: CompletionMark[] = [];
  if (state === "COMPLETE" && signOff) {
    const notGreen = signOff.gates.filter((g) => g.verdict !== "PASS" && !(g.name === "approval" && g.verdict === "SKIPPED"));
    if (!signOff.allGreen) {
      const parts = notGreen.map((g) => `${g.name} ${g.verdict.toLowerCase()}`);
      if (signOff.promiseMatched === false) parts.unshift("promise not matched");
      out.push({ text: "gates not all green", detail: `Completed, but not every gate passed: ${parts.join(", ") || "see the run page"}`, kind: "unverified" });
    }
    if (signOff.approvalSkipped) out.push({ text: "no approval", detail: "Completed without a human approval (the approval gate was skipped)", kind: "no-approval" });
  }
  if (restartCount && restartCount > 0) {
    out.push({
      text: `${restartCount} restart${restartCount > 1 ? "s" : ""}`,
      detail: `Restarted ${restartCount} time${restartCount > 1 ? "s" : ""} after a crash or stop: see its attempts`,
      kind: "restarted",
    });
  }
  return out;
}
