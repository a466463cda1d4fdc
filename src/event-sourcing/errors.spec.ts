import { describe, expect, it } from '@jest/globals';
import { isConnectionError } from './errors.js';

describe('isConnectionError', () => {
  it.each([
    [
      'a refused connection',
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    ],
    ['a terminated connection', new Error('Connection terminated unexpectedly')],
    [
      'a statement on a dead pg client',
      new Error('Client has encountered a connection error and is not queryable'),
    ],
    [
      'a statement on a runner released with its connection',
      new Error('Query runner already released. Cannot run queries anymore.'),
    ],
    ['an admin shutdown', Object.assign(new Error('terminating connection'), { code: '57P01' })],
    [
      'a connection refused beyond a limit',
      Object.assign(new Error('sorry, too many clients already'), { code: '53300' }),
    ],
    ['a statement on a closed pool', new Error('Cannot use a pool after calling end on the pool')],
    [
      'a database that accepts no connections',
      Object.assign(new Error('database "bank" is not currently accepting connections'), {
        code: '55000',
      }),
    ],
    [
      'a login refused',
      Object.assign(new Error('password authentication failed'), { code: '28P01' }),
    ],
    [
      'a database that is gone',
      Object.assign(new Error('database does not exist'), { code: '3D000' }),
    ],
  ])('is true for %s', (_, error) => {
    expect(isConnectionError(error)).toBe(true);
  });

  it.each([
    ['a unique violation', Object.assign(new Error('duplicate key'), { code: '23505' })],
    ['a division by zero', Object.assign(new Error('division by zero'), { code: '22012' })],
    ['a cancelled statement', Object.assign(new Error('canceling statement'), { code: '57014' })],
    ['a server out of memory', Object.assign(new Error('out of memory'), { code: '53200' })],
    [
      'a statement past temp_file_limit',
      Object.assign(new Error('temporary file size exceeds temp_file_limit'), { code: '53400' }),
    ],
    ['a plain error', new Error('boom')],
    [
      'another failure of code 55000',
      Object.assign(new Error('currval of sequence "s" is not yet defined in this session'), {
        code: '55000',
      }),
    ],
  ])('is false for %s', (_, error) => {
    expect(isConnectionError(error)).toBe(false);
  });
});
