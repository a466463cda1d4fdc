import type { ValueTransformer } from 'typeorm';

/** `pg` returns int8 as a string; our amounts stay below 2^53, so they are exact JS numbers. */
export const bigintTransformer: ValueTransformer = {
  to: (value?: number | null) => value,
  from: (value?: string | null) => (value === null || value === undefined ? value : Number(value)),
};
