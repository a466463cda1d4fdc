import { describe, expect, it } from '@jest/globals';
import { arrayParameter } from './array-parameter.js';

describe('arrayParameter', () => {
  it('writes numbers, booleans, nulls, uuids and words as they are', () => {
    expect(arrayParameter([1, -2, 0, -0, 2 ** 53 - 1, 1.5, 1e21])).toBe(
      '{1,-2,0,0,9007199254740991,1.5,1e+21}',
    );
    expect(arrayParameter([true, false, null])).toBe('{t,f,NULL}');
    expect(arrayParameter(['0d1e2f30-4a5b-4c6d-8e7f-901234567890', 'credit', null])).toBe(
      '{0d1e2f30-4a5b-4c6d-8e7f-901234567890,credit,NULL}',
    );
    expect(arrayParameter([])).toBe('{}');
  });

  it.each([
    ['a comma', ['a,b']],
    ['a quote', ['say "hi"']],
    ['a brace', ['{a}']],
    ['a backslash', ['a\\b']],
    ['a space', [' a']],
    ['an empty string', ['']],
    ['the word null', ['null']],
    ['NaN', [1, Number.NaN]],
    ['Infinity', [Number.POSITIVE_INFINITY]],
    ['undefined', [1, undefined]],
    ['an object', [{ a: 1 }]],
    ['a nested array', [[1]]],
    ['a date', [new Date(0)]],
  ])('leaves an array with %s to pg', (_what, values) => {
    expect(arrayParameter(values as (number | string | null)[])).toBe(values);
  });
});
