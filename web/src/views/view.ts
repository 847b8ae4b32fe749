import type { Api } from "../api";

export interface View {
  el: HTMLElement;
  /** re-read everything: called after a reconnect, when changes may have been missed */
  refresh(): void;
  dispose(): void;
}

export type ViewFactory = (api: Api) => View;

/** Coalesces bursts of change notifications into one re-read. */
/** `fn` may be async: its promise is not awaited (a failed refresh is retried by the next change). */
export function debounce(fn: () => void | Promise<void>, ms: number): { (): void; cancel(): void } {
  let t: ReturnType<typeof setTimeout> | null = null;
  const run = () => {
    if (t !== null) clearTimeout(t);
    t = setTimeout(() => {
      t = null;
      void fn();
    }, ms);
  };
  run.cancel = () => {
    if (t !== null) clearTimeout(t);
  };
  return run;
}

/** At most one call per `ms`, the last request always honoured (a steady stream of events cannot starve it). */
export function throttle(fn: () => void, ms: number): { (): void; cancel(): void } {
  let t: ReturnType<typeof setTimeout> | null = null;
  let last = 0;
  const run = () => {
    if (t !== null) return;
    const wait = Math.max(0, last + ms - Date.now());
    t = setTimeout(() => {
      t = null;
      last = Date.now();
      fn();
    }, wait);
  };
  run.cancel = () => {
    if (t !== null) clearTimeout(t);
    t = null;
  };
  return run;
}
