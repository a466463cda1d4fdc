// pg's own serialization of a query parameter (what it sends for it), exported as `pg/lib/utils`
// but not typed by @types/pg.
declare module 'pg/lib/utils.js' {
  const utils: { prepareValue(value: unknown): string | Buffer | null };
  export default utils;
}
