/** Elements written as they are: PostgreSQL's array input needs no quotes around them. */
const BARE = /^[A-Za-z0-9_.:-]+$/;

/**
 * An array parameter for `$n::type[]` (in an `unnest`, say), as PostgreSQL's array literal. pg
 * writes an array parameter by quoting and escaping each element, which for the thousands of
 * elements of a projection batch costs more than the rest of the batch's work in Node. Numbers,
 * booleans, nulls and strings of letters, digits and `_.:-` (uuids, words) need no quoting, and
 * are written as they are; an array with anything else (quotes, spaces, an empty string, the
 * word null, an object, undefined) is returned as it is, for pg to write.
 */
export function arrayParameter(
  values: readonly (number | boolean | string | null)[],
): string | readonly unknown[] {
  let literal = '{';
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (i > 0) literal += ',';
    if (value === null) literal += 'NULL';
    else if (typeof value === 'boolean') literal += value ? 't' : 'f';
    else if (typeof value === 'number') {
      if (!Number.isFinite(value)) return values;
      literal += String(value);
    } else if (typeof value === 'string' && BARE.test(value) && value.toUpperCase() !== 'NULL') {
      literal += value;
    } else return values;
  }
  return `${literal}}`;
}
