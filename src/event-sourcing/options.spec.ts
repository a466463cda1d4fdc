import { describe, expect, it } from '@jest/globals';
import { resolveOptions } from './options.js';

describe('resolveOptions', () => {
  it('watches batches for 30 s by default, or as long as given; 0 turns it off', () => {
    expect(resolveOptions().batchStuckAfterMs).toBe(30_000);
    expect(resolveOptions({ batchStuckAfterMs: 5_000 }).batchStuckAfterMs).toBe(5_000);
    expect(resolveOptions({ batchStuckAfterMs: 0 }).batchStuckAfterMs).toBe(0);
  });

  // setTimeout fires at once for a delay past 2^31-1 ms, Infinity included.
  it.each([Infinity, 2 ** 31, -1, 1.5, NaN])('refuses batchStuckAfterMs %p', (value) => {
    expect(() => resolveOptions({ batchStuckAfterMs: value })).toThrow(
      /^batchStuckAfterMs must be an integer from 0 to 2147483647/,
    );
  });
});
