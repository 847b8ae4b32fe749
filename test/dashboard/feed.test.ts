import { describe, expect, it } from "vitest";
import { FeedState, type FeedEvent } from "../../web/src/feed";

// The feed's bookkeeping: a replay after a reconnect must not show a line twice, and the cursor it resumes
// from must be the last line shown.

const ev = (line: number): FeedEvent => ({ line, name: `e${line}`, timestamp: "2026-01-01T00:00:00Z", role: null, status: null, message: null, iteration: 1 });
const batch = (lines: number[], cursor?: number) => ({ events: lines.map(ev), cursor: String(cursor ?? lines.at(-1) ?? 0), hasMore: false });

describe("FeedState", () => {
  it("shows each line once, in order, across overlapping replays", () => {
    const f = new FeedState(0);
    expect(f.accept(batch([1, 2, 3])).map((e) => e.line)).toEqual([1, 2, 3]);
    // a reconnect that replays from an older cursor
    expect(f.accept(batch([2, 3, 4, 5])).map((e) => e.line)).toEqual([4, 5]);
    expect(f.accept(batch([5, 4, 6])).map((e) => e.line)).toEqual([6]);
    expect(f.shown.map((e) => e.line)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(f.cursor).toBe(6);
    expect(f.duplicatesDropped).toBe(4);
  });

  it("starts after a backlog cursor and ignores anything at or before it", () => {
    const f = new FeedState(100);
    expect(f.accept(batch([99, 100, 101])).map((e) => e.line)).toEqual([101]);
    expect(f.cursor).toBe(101);
  });

  it("an empty batch moves the cursor to the server's", () => {
    const f = new FeedState(0);
    f.accept(batch([], 40));
    expect(f.cursor).toBe(40);
    f.accept(batch([], 10));
    expect(f.cursor).toBe(40);
  });

  it("keeps at most `limit` rows", () => {
    const f = new FeedState(0, 5);
    f.accept(batch([1, 2, 3, 4, 5, 6, 7]));
    expect(f.shown.map((e) => e.line)).toEqual([3, 4, 5, 6, 7]);
    expect(f.cursor).toBe(7);
  });
});
