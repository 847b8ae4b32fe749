// Date.prototype.toISOString costs about 0.4 µs, and an ingest formats every event's time twice: its COPY field
// (src/events/insert.ts) and its packed line's tokens (src/events/line-codec.ts), 400,000 calls for a catch-up of
// 200,000 lines. The date part is the same for every event of a day, so it is formatted once per day and the
// time of day by arithmetic. Whatever the day or the hit rate, the result is toISOString's.

const DAY_MS = 86_400_000;

let cachedDay = NaN;
/** "YYYY-MM-DDT" of cachedDay. */
let cachedPrefix = "";

const pad2 = (n: number): string => (n < 10 ? "0" + n : String(n));
const pad3 = (n: number): string => (n < 10 ? "00" + n : n < 100 ? "0" + n : String(n));

/**
 * `new Date(ms).toISOString()`: "YYYY-MM-DDTHH:mm:ss.sssZ". Throws the same RangeError for a time that is not a
 * date (NaN, out of range); years outside 0000–9999 (whose ISO form is longer) are formatted by toISOString.
 */
export function isoTime(ms: number): string {
  const day = Math.floor(ms / DAY_MS);
  if (day !== cachedDay) {
    const iso = new Date(ms).toISOString();
    if (iso.length !== 24) return iso;
    cachedDay = day;
    cachedPrefix = iso.slice(0, 11);
    return iso;
  }
  let rest = ms - day * DAY_MS;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  return cachedPrefix + pad2(hours) + ":" + pad2(minutes) + ":" + pad2(seconds) + "." + pad3(rest - seconds * 1000) + "Z";
}
