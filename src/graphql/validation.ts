// Shared argument rules. PostgreSQL cannot store a NUL character in text: without a rule here such a string
// reaches the database and comes back as a masked "Unexpected error" instead of a ValidationError naming it.

export const noNul = (value: string): boolean => !value.includes("\u0000");

/** Free text an operator writes (notes): bounded, storable. */
export const noteValidation: { maxLength: number; refine: [(value: string) => boolean, { message: string }] } = {
  maxLength: 2000,
  refine: [noNul, { message: "must not contain NUL (\\u0000) characters" }],
};

/** Largest line number a cursor may name (the database's integer). */
export const MAX_LINE = 2_147_483_647;

/** A line-number cursor: digits, at most MAX_LINE. */
export function isLineCursor(value: string): boolean {
  return /^\d{1,10}$/.test(value) && Number(value) <= MAX_LINE;
}
