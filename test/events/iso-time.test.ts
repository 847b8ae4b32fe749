import { describe, expect, it } from "vitest";
import { isoTime } from "../../src/util/iso-time";

// isoTime (src/util/iso-time.ts) formats each event's time for its COPY field and its packed line: it formats a
// day once and the time of day by arithmetic, so it must give exactly what toISOString gives, on any day, in any
// order of calls (its cache), and fail where toISOString fails.

const at = (iso: string) => Date.parse(iso);

describe("isoTime", () => {
  it.each([
    "1970-01-01T00:00:00.000Z",
    "1969-12-31T23:59:59.999Z",
    "0001-01-01T00:00:00.000Z",
    "9999-12-31T23:59:59.999Z",
    "2024-02-29T12:34:56.007Z",
    "2026-11-24T00:00:00.250Z",
    "2026-11-24T09:05:03.090Z",
    "2026-11-24T23:59:59.999Z",
    "2026-11-25T00:00:00.000Z",
  ])("%s", (iso) => {
    // Twice: the first call fills the day's cache, the second formats from it.
    expect(isoTime(at(iso))).toBe(iso);
    expect(isoTime(at(iso))).toBe(iso);
  });

  it("years outside 0000-9999 are formatted as toISOString formats them", () => {
    for (const ms of [Date.UTC(10000, 0, 1), Date.UTC(-1, 5, 1, 1, 2, 3, 4), 8.64e15, -8.64e15]) {
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    }
  });

  it("matches toISOString over days, hours and milliseconds, calls interleaving days", () => {
    const base = Date.UTC(2026, 10, 24);
    for (let i = 0; i < 20_000; i++) {
      const ms = base + (i % 3) * 86_400_000 - (i % 5) * 86_400_000 * 400 + i * 997 + (i % 1000);
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    }
  });

  it("throws toISOString's RangeError for a time that is not a date", () => {
    expect(() => isoTime(NaN)).toThrow(RangeError);
    expect(() => isoTime(8.64e15 + 1)).toThrow(RangeError);
  });
});
