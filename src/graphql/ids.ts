import { decodeGlobalID } from "@pothos/plugin-relay";

/** Accepts a Relay global id of the given type, or the raw database id (scripts often hold those). */
export function localId(id: string, typename: string): string | null {
  try {
    const decoded = decodeGlobalID(id);
    if (decoded.typename === typename) return decoded.id;
    if (/^[A-Za-z]+$/.test(decoded.typename)) return null;
  } catch {
    // not base64: fall through to raw id
  }
  return id;
}
