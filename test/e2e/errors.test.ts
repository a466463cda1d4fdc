import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Response } from 'supertest';
import { startTestApp, type TestApp } from '../support/app.js';

interface CommandResult {
  accountId: string;
  version: number;
  position: number;
}

/** CONTRACT §4: exactly {statusCode, code, message}, no stack trace, no SQL. */
function expectError(res: Response, statusCode: number, code: string): void {
  expect({ status: res.status, body: res.body }).toEqual({
    status: statusCode,
    body: { statusCode, code, message: expect.any(String) },
  });
  expect(res.headers['content-type']).toMatch(/application\/json/);
  expect(res.body.message).not.toBe('');
  const text = JSON.stringify(res.body);
  expect(text).not.toMatch(/\n\s+at |\bat \S+ \(|node_modules|\.[jt]s:\d+/);
  expect(text).not.toMatch(/\b(SELECT|INSERT|UPDATE|DELETE)\b|QueryFailedError|duplicate key/i);
}

const VALIDATION_FAILED = 'VALIDATION_FAILED';

describe('error responses', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  const uniqueOwner = () => `owner-${randomUUID()}`;

  async function open(initialDeposit = 0): Promise<CommandResult> {
    const res = await t.http
      .post('/accounts')
      .send({ ownerId: uniqueOwner(), initialDeposit })
      .expect(201);
    return res.body;
  }

  async function command(
    id: string,
    path: 'deposits' | 'withdrawals' | 'close',
    body: object = {},
  ): Promise<CommandResult> {
    const res = await t.http.post(`/accounts/${id}/${path}`).send(body).expect(201);
    return res.body;
  }

  async function eventCount(id: string): Promise<number> {
    const res = await t.http.get(`/accounts/${id}/events`).expect(200);
    return res.body.items.length;
  }

  /** Runs a command that must be rejected and checks the stream did not grow. */
  async function expectRejected(
    id: string,
    send: () => Promise<Response>,
    status: number,
    code: string,
  ): Promise<void> {
    const before = await eventCount(id);
    const res = await send();
    expectError(res, status, code);
    expect(await eventCount(id)).toBe(before);
  }

  describe('400 VALIDATION_FAILED', () => {
    const badAmounts: [string, unknown][] = [
      ['0', 0],
      ['a negative amount', -100],
      ['a fractional amount', 10.5],
      ['a string', '100'],
      ['null', null],
      ['an amount above 10^11', 100_000_000_001],
      ['a boolean', true],
      ['an object', { value: 100 }],
    ];

    describe.each(['deposits', 'withdrawals'] as const)('POST /accounts/:id/%s', (path) => {
      let id: string;
      beforeAll(async () => {
        id = (await open(1000)).accountId;
      });

      it.each(badAmounts)('refuses %s as the amount', async (_name, amount) => {
        await expectRejected(
          id,
          () => t.http.post(`/accounts/${id}/${path}`).send({ amount }),
          400,
          VALIDATION_FAILED,
        );
      });

      it('refuses a missing amount', async () => {
        await expectRejected(
          id,
          () => t.http.post(`/accounts/${id}/${path}`).send({}),
          400,
          VALIDATION_FAILED,
        );
      });

      it('refuses a request without a body', async () => {
        await expectRejected(
          id,
          () => t.http.post(`/accounts/${id}/${path}`),
          400,
          VALIDATION_FAILED,
        );
      });

      it('refuses unknown body fields', async () => {
        await expectRejected(
          id,
          () => t.http.post(`/accounts/${id}/${path}`).send({ amount: 100, memo: 'hi' }),
          400,
          VALIDATION_FAILED,
        );
      });

      it.each([
        ['a negative expectedVersion', -1],
        ['a string expectedVersion', '0'],
        ['a fractional expectedVersion', 0.5],
        ['a null expectedVersion', null],
      ])('refuses %s', async (_name, expectedVersion) => {
        await expectRejected(
          id,
          () => t.http.post(`/accounts/${id}/${path}`).send({ amount: 100, expectedVersion }),
          400,
          VALIDATION_FAILED,
        );
      });

      it('refuses a body that is not valid UTF-8, and says so', async () => {
        let res: Response | undefined;
        await expectRejected(
          id,
          async () =>
            (res = await t.http
              .post(`/accounts/${id}/${path}`)
              .set('Content-Type', 'application/json')
              // As bytes: superagent would serialize a Buffer as JSON ({"type":"Buffer",...}).
              .serialize((bytes) => bytes)
              .send(Buffer.from('{"amount": 100, "x": "\xff\xfe"}', 'latin1'))),
          400,
          VALIDATION_FAILED,
        );
        expect(res!.body.message).toBe('request body is not valid UTF-8');
      });

      it.each([
        ['malformed JSON', '{"amount": 100', 'request body is not valid JSON'],
        ['a JSON array', '[{"amount": 100}]', 'request body must be a JSON object'],
        ['JSON null', 'null', 'request body must be a JSON object'],
        ['a JSON number', '100', 'request body must be a JSON object'],
        ['a JSON string', '"100"', 'request body must be a JSON object'],
      ])('refuses %s as the body, and says so', async (_name, raw, message) => {
        let res: Response | undefined;
        await expectRejected(
          id,
          async () =>
            (res = await t.http
              .post(`/accounts/${id}/${path}`)
              .set('Content-Type', 'application/json')
              .send(raw)),
          400,
          VALIDATION_FAILED,
        );
        expect(res!.body.message).toBe(message);
      });
    });

    describe('POST /accounts/:id/close', () => {
      it('refuses unknown body fields', async () => {
        const { accountId } = await open();
        await expectRejected(
          accountId,
          () => t.http.post(`/accounts/${accountId}/close`).send({ reason: 'bye' }),
          400,
          VALIDATION_FAILED,
        );
      });

      it('refuses a string expectedVersion', async () => {
        const { accountId } = await open();
        await expectRejected(
          accountId,
          () => t.http.post(`/accounts/${accountId}/close`).send({ expectedVersion: '0' }),
          400,
          VALIDATION_FAILED,
        );
      });

      it('refuses malformed JSON', async () => {
        const { accountId } = await open();
        await expectRejected(
          accountId,
          () =>
            t.http
              .post(`/accounts/${accountId}/close`)
              .set('Content-Type', 'application/json')
              .send('{'),
          400,
          VALIDATION_FAILED,
        );
      });
    });

    describe('POST /accounts', () => {
      /** A refused opening leaves the owner without accounts. */
      async function expectOpenRefused(body: unknown, ownerId: string): Promise<void> {
        const res = await t.http.post('/accounts').send(body as object);
        expectError(res, 400, VALIDATION_FAILED);
        const fence = await open();
        const list = await t.http
          .get(`/accounts?ownerId=${encodeURIComponent(ownerId)}&minPosition=${fence.position}`)
          .expect(200);
        expect(list.body).toEqual({ items: [] });
      }

      it.each([
        ['-1', -1],
        ['a fractional amount', 10.5],
        ['a string', '100'],
        ['null', null],
        ['an amount above 10^11', 100_000_000_001],
      ])('refuses %s as the initial deposit', async (_name, initialDeposit) => {
        const ownerId = uniqueOwner();
        await expectOpenRefused({ ownerId, initialDeposit }, ownerId);
      });

      it.each([
        ['lower case "usd"', 'usd'],
        ['an unknown code "ZZZ"', 'ZZZ'],
        ['a number', 5],
        ['null', null],
        ['an empty string', ''],
        ['a four-letter code', 'USDX'],
      ])('refuses %s as the currency', async (_name, currency) => {
        const ownerId = uniqueOwner();
        await expectOpenRefused({ ownerId, currency }, ownerId);
      });

      it('refuses a missing ownerId', async () => {
        const res = await t.http.post('/accounts').send({ initialDeposit: 10 });
        expectError(res, 400, VALIDATION_FAILED);
      });

      it.each([
        ['an empty ownerId', ''],
        ['a numeric ownerId', 42],
        ['a null ownerId', null],
      ])('refuses %s', async (_name, ownerId) => {
        const res = await t.http.post('/accounts').send({ ownerId });
        expectError(res, 400, VALIDATION_FAILED);
      });

      it('refuses unknown body fields', async () => {
        const ownerId = uniqueOwner();
        await expectOpenRefused({ ownerId, nickname: 'savings' }, ownerId);
      });

      it('refuses a client-chosen accountId', async () => {
        const ownerId = uniqueOwner();
        await expectOpenRefused({ ownerId, accountId: randomUUID() }, ownerId);
      });

      it('refuses malformed JSON', async () => {
        const res = await t.http
          .post('/accounts')
          .set('Content-Type', 'application/json')
          .send('{"ownerId": "x",}');
        expectError(res, 400, VALIDATION_FAILED);
      });
    });

    describe('an id that is not a UUID', () => {
      it.each([
        ['GET', '/accounts/not-a-uuid'],
        ['GET', '/accounts/not-a-uuid/transactions'],
        ['GET', '/accounts/not-a-uuid/state'],
        ['GET', '/accounts/not-a-uuid/events'],
        ['GET', '/accounts/12345'],
        ['POST', '/accounts/not-a-uuid/deposits'],
        ['POST', '/accounts/not-a-uuid/withdrawals'],
        ['POST', '/accounts/not-a-uuid/close'],
      ])('is refused by %s %s', async (method, path) => {
        const res =
          method === 'GET'
            ? await t.http.get(path)
            : await t.http.post(path).send(path.endsWith('close') ? {} : { amount: 100 });
        expectError(res, 400, VALIDATION_FAILED);
      });
    });

    describe('a bad query string', () => {
      let id: string;
      let position: number;
      beforeAll(async () => {
        const opened = await open(100);
        id = opened.accountId;
        position = opened.position;
      });

      it.each([
        ['limit=0', 'limit=0'],
        ['limit=501', 'limit=501'],
        ['limit=abc', 'limit=abc'],
        ['limit=1.5', 'limit=1.5'],
        ['after=abc', 'after=abc'],
        ['minPosition=abc', 'minPosition=abc'],
        ['an unknown parameter', 'foo=bar'],
      ])('GET /accounts/:id/transactions refuses %s', async (_name, query) => {
        const res = await t.http.get(`/accounts/${id}/transactions?${query}`);
        expectError(res, 400, VALIDATION_FAILED);
      });

      it('GET /accounts/:id/transactions still answers a valid query', async () => {
        await t.http
          .get(`/accounts/${id}/transactions?limit=1&minPosition=${position}`)
          .expect(200);
      });

      it.each([
        ['minPosition=abc', 'minPosition=abc'],
        ['minPosition=-1', 'minPosition=-1'],
        ['an unknown parameter', 'foo=bar'],
      ])('GET /accounts/:id refuses %s', async (_name, query) => {
        const res = await t.http.get(`/accounts/${id}?${query}`);
        expectError(res, 400, VALIDATION_FAILED);
      });

      it('GET /accounts refuses a missing ownerId', async () => {
        expectError(await t.http.get('/accounts'), 400, VALIDATION_FAILED);
      });

      it('GET /accounts refuses an empty ownerId', async () => {
        expectError(await t.http.get('/accounts?ownerId='), 400, VALIDATION_FAILED);
      });

      it('GET /accounts refuses an unknown parameter', async () => {
        expectError(await t.http.get('/accounts?ownerId=x&foo=bar'), 400, VALIDATION_FAILED);
      });

      it.each([
        ['version=-1', 'version=-1'],
        ['version=abc', 'version=abc'],
        ['asOf=yesterday', 'asOf=yesterday'],
        ['asOf=2024-13-45T00:00:00.000Z', 'asOf=2024-13-45T00:00:00.000Z'],
        ['both version and asOf', 'version=0&asOf=2999-01-01T00:00:00.000Z'],
        ['an unknown parameter', 'foo=bar'],
        // ISO-8601, but forms JavaScript's Date reads wrong or not at all
        ['a week date', 'asOf=2030-W01-1'],
        ['an ordinal date', 'asOf=2030-001'],
        ['the basic format', 'asOf=20300101T000000Z'],
        ['a year alone', 'asOf=2030'],
        ['a month alone', 'asOf=2030-01'],
        ['an hour without minutes', 'asOf=2030-01-01T00Z'],
      ])('GET /accounts/:id/state refuses %s', async (_name, query) => {
        const res = await t.http.get(`/accounts/${id}/state?${query}`);
        expectError(res, 400, VALIDATION_FAILED);
      });

      it('refuses a query parameter on a command, which appends nothing', async () => {
        const other = (await open(0)).accountId;
        const commands: [string, object][] = [
          [`/accounts/${id}/deposits`, { amount: 1 }],
          [`/accounts/${id}/withdrawals`, { amount: 1 }],
          [`/accounts/${other}/close`, {}],
          ['/transfers', { fromAccountId: id, toAccountId: other, amount: 1 }],
        ];
        for (const [path, body] of commands) {
          for (const target of [id, other]) {
            await expectRejected(
              target,
              () => t.http.post(`${path}?dryRun=true`).send(body),
              400,
              VALIDATION_FAILED,
            );
          }
        }
        const ownerId = uniqueOwner();
        const opening = await t.http.post('/accounts?dryRun=true').send({ ownerId });
        expectError(opening, 400, VALIDATION_FAILED);
        expect(opening.body.message).toBe('dryRun: property dryRun should not exist');
        const list = await t.http.get(`/accounts?ownerId=${ownerId}&minPosition=${position}`);
        expect(list.body.items).toEqual([]);
      });

      it('takes minPosition 0 on the read-model routes', async () => {
        await t.http.get(`/accounts/${id}?minPosition=0`).expect(200);
        await t.http.get(`/accounts/${id}/transactions?minPosition=0`).expect(200);
      });

      it('answers the event store routes at once, whatever their minPosition', async () => {
        // A read model would wait 5 s for a position this far, then answer 503 STALE_READ_MODEL.
        const far = position + 1_000_000;
        await t.http.get(`/accounts/${id}/state?version=0&minPosition=${far}`).expect(200);
        await t.http.get(`/accounts/${id}/events?minPosition=${far}`).expect(200);
      });

      it('takes asOf with t and z in lower case', async () => {
        await t.http.get(`/accounts/${id}/state?asOf=2999-01-01t00:00:00z`).expect(200);
      });

      it('refuses a body on the admin routes, which take none', async () => {
        const res = await t.http.post('/projections/account-summary/retry').send({ all: true });
        expectError(res, 400, VALIDATION_FAILED);
        expect(res.body.message).toBe('all: property all should not exist');
      });

      it.each([
        ['GET', '/projections?verbose=1'],
        ['POST', '/projections/account-summary/rebuild?now=1'],
        ['POST', '/projections/account-summary/retry?now=1'],
      ])('%s %s refuses the query parameter', async (method, path) => {
        const res = await (method === 'GET' ? t.http.get(path) : t.http.post(path));
        expectError(res, 400, VALIDATION_FAILED);
      });

      it.each(['limit=1', 'foo=bar'])('GET /accounts/:id/events refuses %s', async (query) => {
        const res = await t.http.get(`/accounts/${id}/events?${query}`);
        expectError(res, 400, VALIDATION_FAILED);
        expect(res.body.message).toBe(
          `${query.split('=')[0]}: property ${query.split('=')[0]} should not exist`,
        );
      });
    });
  });

  describe('404 ACCOUNT_NOT_FOUND for an unknown account', () => {
    const unknown = randomUUID();

    it.each([
      ['GET', `/accounts/${unknown}`],
      ['GET', `/accounts/${unknown}/transactions`],
      ['GET', `/accounts/${unknown}/state`],
      ['GET', `/accounts/${unknown}/state?version=0`],
      ['GET', `/accounts/${unknown}/state?asOf=2999-01-01T00:00:00.000Z`],
      ['GET', `/accounts/${unknown}/events`],
    ])('%s %s', async (_method, path) => {
      expectError(await t.http.get(path), 404, 'ACCOUNT_NOT_FOUND');
    });

    it.each([
      ['deposits', { amount: 100 }],
      ['withdrawals', { amount: 100 }],
      ['close', {}],
    ])('POST /accounts/:id/%s, appending nothing', async (path, body) => {
      const id = randomUUID();
      expectError(
        await t.http.post(`/accounts/${id}/${path}`).send(body),
        404,
        'ACCOUNT_NOT_FOUND',
      );
      expectError(await t.http.get(`/accounts/${id}/events`), 404, 'ACCOUNT_NOT_FOUND');
    });

    it('GET /accounts/:id with a reached minPosition', async () => {
      const fence = await open();
      expectError(
        await t.http.get(`/accounts/${randomUUID()}?minPosition=${fence.position}`),
        404,
        'ACCOUNT_NOT_FOUND',
      );
    });
  });

  describe('409 CONCURRENCY_CONFLICT', () => {
    it.each([
      ['deposits', { amount: 10 }],
      ['withdrawals', { amount: 10 }],
    ])('refuses a stale expectedVersion on %s and accepts the current one', async (path, body) => {
      const { accountId } = await open(100);
      await command(accountId, 'deposits', { amount: 50 }); // now at version 1
      await expectRejected(
        accountId,
        () => t.http.post(`/accounts/${accountId}/${path}`).send({ ...body, expectedVersion: 0 }),
        409,
        'CONCURRENCY_CONFLICT',
      );
      const ok = await t.http
        .post(`/accounts/${accountId}/${path}`)
        .send({ ...body, expectedVersion: 1 })
        .expect(201);
      expect(ok.body.version).toBe(2);
    });

    it('refuses an expectedVersion ahead of the stream', async () => {
      const { accountId } = await open(100);
      await expectRejected(
        accountId,
        () =>
          t.http.post(`/accounts/${accountId}/deposits`).send({ amount: 1, expectedVersion: 5 }),
        409,
        'CONCURRENCY_CONFLICT',
      );
    });

    it('refuses a stale expectedVersion on close and accepts the current one', async () => {
      const { accountId } = await open(10);
      await command(accountId, 'withdrawals', { amount: 10 }); // now at version 1
      await expectRejected(
        accountId,
        () => t.http.post(`/accounts/${accountId}/close`).send({ expectedVersion: 0 }),
        409,
        'CONCURRENCY_CONFLICT',
      );
      const ok = await t.http
        .post(`/accounts/${accountId}/close`)
        .send({ expectedVersion: 1 })
        .expect(201);
      expect(ok.body.version).toBe(2);
    });
  });

  describe('422 INSUFFICIENT_FUNDS', () => {
    it('refuses a withdrawal above the balance', async () => {
      const { accountId } = await open(100);
      await expectRejected(
        accountId,
        () => t.http.post(`/accounts/${accountId}/withdrawals`).send({ amount: 101 }),
        422,
        'INSUFFICIENT_FUNDS',
      );
      const ok = await command(accountId, 'withdrawals', { amount: 100 });
      const read = await t.http
        .get(`/accounts/${accountId}?minPosition=${ok.position}`)
        .expect(200);
      expect(read.body.balance).toBe(0);
    });

    it('refuses any withdrawal from an empty account', async () => {
      const { accountId } = await open(0);
      await expectRejected(
        accountId,
        () => t.http.post(`/accounts/${accountId}/withdrawals`).send({ amount: 1 }),
        422,
        'INSUFFICIENT_FUNDS',
      );
    });
  });

  describe('when closed', () => {
    let id: string;
    beforeAll(async () => {
      id = (await open(0)).accountId;
      await command(id, 'close');
    });

    it('refuses a deposit', async () => {
      await expectRejected(
        id,
        () => t.http.post(`/accounts/${id}/deposits`).send({ amount: 100 }),
        422,
        'ACCOUNT_CLOSED',
      );
    });

    it('refuses a withdrawal', async () => {
      await expectRejected(
        id,
        () => t.http.post(`/accounts/${id}/withdrawals`).send({ amount: 1 }),
        422,
        'ACCOUNT_CLOSED',
      );
    });

    it('refuses to close again', async () => {
      await expectRejected(
        id,
        () => t.http.post(`/accounts/${id}/close`).send({}),
        422,
        'ACCOUNT_CLOSED',
      );
    });
  });

  describe('422 BALANCE_NOT_ZERO', () => {
    it('refuses to close an account with money on it', async () => {
      const { accountId } = await open(100);
      await expectRejected(
        accountId,
        () => t.http.post(`/accounts/${accountId}/close`).send({}),
        422,
        'BALANCE_NOT_ZERO',
      );
      const state = await t.http.get(`/accounts/${accountId}/state`).expect(200);
      expect(state.body.status).toBe('open');
    });
  });

  describe('413 PAYLOAD_TOO_LARGE', () => {
    const big = 'x'.repeat(70 * 1024);

    it('refuses an opening with a body above 64 kB', async () => {
      const res = await t.http.post('/accounts').send({ ownerId: big });
      expectError(res, 413, 'PAYLOAD_TOO_LARGE');
    });

    it('refuses a deposit with a body above 64 kB, appending nothing', async () => {
      const { accountId } = await open(0);
      await expectRejected(
        accountId,
        () => t.http.post(`/accounts/${accountId}/deposits`).send({ amount: 100, pad: big }),
        413,
        'PAYLOAD_TOO_LARGE',
      );
    });

    it.each(['text/plain', 'application/x-www-form-urlencoded'])(
      'refuses a %s body above 64 kB, appending nothing',
      async (type) => {
        const { accountId } = await open(0);
        await expectRejected(
          accountId,
          () =>
            t.http
              .post(`/accounts/${accountId}/deposits`)
              .set('Content-Type', type)
              .send(JSON.stringify({ amount: 100, pad: big })),
          413,
          'PAYLOAD_TOO_LARGE',
        );
      },
    );
  });

  describe('415 UNSUPPORTED_MEDIA_TYPE', () => {
    it.each([
      ['text/plain', '{"expectedVersion": 5}'],
      ['application/x-www-form-urlencoded', 'expectedVersion=5'],
      ['application/xml', '<close><expectedVersion>5</expectedVersion></close>'],
    ])('refuses a %s body: a close does not run without its expectedVersion', async (type, raw) => {
      const { accountId } = await open(0);
      await expectRejected(
        accountId,
        () => t.http.post(`/accounts/${accountId}/close`).set('Content-Type', type).send(raw),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      );
    });

    it('takes a JSON body whose media type is a +json one', async () => {
      const { accountId } = await open(0);
      await t.http
        .post(`/accounts/${accountId}/deposits`)
        .set('Content-Type', 'application/merge-patch+json')
        .send('{"amount": 5}')
        .expect(201);
    });

    it('still takes a command without a body', async () => {
      const { accountId } = await open(0);
      await t.http.post(`/accounts/${accountId}/close`).expect(201);
    });
  });

  describe('unknown routes', () => {
    it('answer 404 with the error body', async () => {
      const res = await t.http.get('/no-such-route');
      expect(res.status).toBe(404);
      expect(Object.keys(res.body).sort()).toEqual(['code', 'message', 'statusCode']);
    });
  });

  describe('concurrent commands', () => {
    it('lets exactly 10 of 20 concurrent withdrawals of 10 take a balance of 100', async () => {
      const { accountId } = await open(100);
      const responses = await Promise.all(
        Array.from({ length: 20 }, () =>
          t.http.post(`/accounts/${accountId}/withdrawals`).send({ amount: 10 }),
        ),
      );
      const succeeded = responses.filter((r) => r.status === 201);
      const refused = responses.filter((r) => r.status !== 201);
      expect(succeeded).toHaveLength(10);
      expect(refused).toHaveLength(10);
      for (const res of refused) expectError(res, 422, 'INSUFFICIENT_FUNDS');
      const versions = succeeded.map((r) => r.body.version as number);
      expect(new Set(versions).size).toBe(10);
      expect([...versions].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      const maxPosition = Math.max(...succeeded.map((r) => r.body.position as number));
      const read = await t.http
        .get(`/accounts/${accountId}?minPosition=${maxPosition}`)
        .expect(200);
      expect(read.body).toMatchObject({ balance: 0, version: 10 });
      expect(await eventCount(accountId)).toBe(11);
    });

    it('applies all of 40 concurrent deposits', async () => {
      const { accountId } = await open(0);
      const amounts = Array.from({ length: 40 }, (_, i) => i + 1);
      const responses = await Promise.all(
        amounts.map((amount) => t.http.post(`/accounts/${accountId}/deposits`).send({ amount })),
      );
      expect(responses.map((r) => r.status)).toEqual(amounts.map(() => 201));
      const versions = responses.map((r) => r.body.version as number);
      expect(new Set(versions).size).toBe(40);
      const positions = responses.map((r) => r.body.position as number);
      expect(new Set(positions).size).toBe(40);
      const maxPosition = Math.max(...positions);
      const read = await t.http
        .get(`/accounts/${accountId}?minPosition=${maxPosition}`)
        .expect(200);
      const sum = amounts.reduce((a, b) => a + b, 0);
      expect(read.body).toMatchObject({ balance: sum, version: 40 });
      const lines = await t.http
        .get(`/accounts/${accountId}/transactions?limit=500&minPosition=${maxPosition}`)
        .expect(200);
      expect(lines.body.items).toHaveLength(40);
      expect(lines.body.items[39].balanceAfter).toBe(sum);
    });
  });
});
