import { describe, expect, it } from '@jest/globals';
import { requestLogLevel } from './logging.js';

describe('requestLogLevel', () => {
  it.each([
    [200, undefined, 'info'],
    [201, undefined, 'info'],
    [400, undefined, 'warn'],
    [404, undefined, 'warn'],
    [422, undefined, 'warn'],
    [500, undefined, 'error'],
    [500, new Error('failed with status code 500'), 'error'],
    // A stale read model, the database out of reach, a shutdown: the client retries.
    [503, new Error('failed with status code 503'), 'warn'],
    [502, undefined, 'error'],
  ] as const)('logs a %i response (error %p) at %s', (status, error, level) => {
    expect(requestLogLevel(status, error)).toBe(level);
  });
});
