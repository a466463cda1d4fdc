import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Logger, NotFoundException, type ArgumentsHost } from '@nestjs/common';
import { StaleReadModelError } from '../../event-sourcing/index.js';
import { ApiErrorFilter } from './api-error.filter.js';

/** The filter's answer to `error`, and what it logged. */
function filter(error: unknown) {
  const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  const response = {
    headersSent: false,
    statusCode: 0,
    body: undefined as unknown,
    headers: {} as Record<string, string>,
    setHeader(name: string, value: string) {
      this.headers[name] = value;
      return this;
    },
    status(code: number) {
      this.statusCode = code;
      return this;
    },
    json(body: unknown) {
      this.body = body;
      return this;
    },
  };
  const host = { switchToHttp: () => ({ getResponse: () => response }) } as ArgumentsHost;
  new ApiErrorFilter().catch(error, host);
  return { response, warnings: warn.mock.calls, errors: logged.mock.calls };
}

describe('ApiErrorFilter', () => {
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('logs a 503 (the client retries) as one warning line, without a stack', () => {
    const { response, warnings, errors } = filter(new StaleReadModelError('account-summary', 9));
    expect(response.statusCode).toBe(503);
    expect(response.body).toMatchObject({ code: 'STALE_READ_MODEL' });
    expect(response.headers).toEqual({ 'Retry-After': '1' });
    expect(errors).toEqual([]);
    expect(warnings).toEqual([
      ['STALE_READ_MODEL: read model account-summary has not reached position 9 yet; retry'],
    ]);
  });

  it('logs a database out of reach as a warning too', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
      code: 'ECONNREFUSED',
    });
    const { response, warnings, errors } = filter(refused);
    expect(response.body).toMatchObject({ statusCode: 503, code: 'DATABASE_UNAVAILABLE' });
    expect(errors).toEqual([]);
    expect(warnings).toEqual([['DATABASE_UNAVAILABLE: connect ECONNREFUSED 127.0.0.1:5432']]);
  });

  it.each([
    ['a cancelled statement', '57014'],
    ['a full disk', '53100'],
    ['a server out of memory', '53200'],
  ])('answers %s (TypeORM wraps the driver error) 503 DATABASE_UNAVAILABLE', (_, code) => {
    const failed = Object.assign(new Error('query failed'), {
      driverError: Object.assign(new Error('the server gave up'), { code }),
    });
    const { response, errors } = filter(failed);
    expect(response.body).toMatchObject({ statusCode: 503, code: 'DATABASE_UNAVAILABLE' });
    expect(errors).toEqual([]);
  });

  it('logs a 500 (a bug) as an error with its stack, and answers without it', () => {
    const bug = new TypeError('cannot read properties of undefined');
    const { response, warnings, errors } = filter(bug);
    expect(response.body).toEqual({
      statusCode: 500,
      code: 'INTERNAL_ERROR',
      message: 'internal error',
    });
    expect(warnings).toEqual([]);
    expect(errors).toEqual([[bug.stack]]);
  });

  it('logs nothing for a 4xx', () => {
    const { response, warnings, errors } = filter(new NotFoundException('no such route'));
    expect(response.statusCode).toBe(404);
    expect([...warnings, ...errors]).toEqual([]);
  });
});
