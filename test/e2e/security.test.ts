/**
 * Security properties of the HTTP surface (CONTRACT §3 "Admin", body limit, §4 errors): admin
 * routes behind a token, body limits, hostile JSON, security headers, CORS, error bodies that leak
 * nothing, rate limiting and correlation ids.
 */
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Response } from 'supertest';
import type TestAgent from 'supertest/lib/agent.js';
import { DataSource } from 'typeorm';
import { startTestApp, type TestApp } from '../support/app.js';
import { openAccount } from '../support/http.js';

const LEAK = /at \w+ \(|SELECT|INSERT|QueryFailedError|TypeError|node_modules/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const KB64 = 64 * 1024;

/** CONTRACT §4: exactly {statusCode, code, message}, matching the HTTP status, leaking nothing. */
function expectApiError(res: Response, status: number, code?: string): void {
  expect({ status: res.status, keys: Object.keys(res.body ?? {}).sort() }).toEqual({
    status,
    keys: ['code', 'message', 'statusCode'],
  });
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.body.statusCode).toBe(status);
  expect(res.body.code).toEqual(code ?? expect.stringMatching(/^[A-Z][A-Z_]*$/));
  expect(typeof res.body.message).toBe('string');
  expect(res.body.message).not.toBe('');
  expect(res.body.message).not.toMatch(LEAK);
  expect(res.text).not.toMatch(/\n\s+at |\.[jt]s:\d+|node_modules|QueryFailedError/);
}

/** Sends a raw body (JSON.stringify would drop `__proto__` and cannot send malformed JSON). */
function postRaw(
  http: TestAgent,
  path: string,
  body: string | Buffer,
  headers: Record<string, string> = {},
) {
  const req = http.post(path).set({ 'Content-Type': 'application/json', ...headers });
  // superagent would serialize a Buffer as JSON ({"type":"Buffer",...}): send its bytes as they are.
  return typeof body === 'string' ? req.send(body) : req.serialize((bytes) => bytes).send(body);
}

const prototypeSnapshot = () => ({
  object: Object.getOwnPropertyNames(Object.prototype).sort(),
  array: Object.getOwnPropertyNames(Array.prototype).sort(),
  fn: Object.getOwnPropertyNames(Function.prototype).sort(),
});

describe('security', () => {
  describe('admin routes', () => {
    const TOKEN = 'admin-token-5f1b8c2e9d7a4e36b0c1';
    const routes: [method: 'get' | 'post', path: string, ok: number][] = [
      ['get', '/projections', 200],
      ['post', '/projections/account-summary/rebuild', 202],
      ['post', '/projections/account-summary/retry', 200],
      ['get', '/metrics', 200],
    ];
    const call = (t: TestApp, method: 'get' | 'post', path: string, auth?: string) => {
      const req = method === 'get' ? t.http.get(path) : t.http.post(path);
      return auth === undefined ? req : req.set('Authorization', auth);
    };

    describe('with ADMIN_TOKEN set', () => {
      let t: TestApp;
      beforeAll(async () => {
        t = await startTestApp({ adminToken: TOKEN });
      });
      afterAll(() => t.close());

      const wrong: [string, string | undefined][] = [
        ['no Authorization header', undefined],
        ['an empty header', ''],
        ['"Bearer" alone', 'Bearer'],
        ['"Bearer " and nothing', 'Bearer '],
        ['a wrong token of the same length', `Bearer ${'x'.repeat(TOKEN.length)}`],
        ['the token with one character changed', `Bearer ${TOKEN.slice(0, -1)}2`],
        ['a shorter token (a prefix)', `Bearer ${TOKEN.slice(0, 8)}`],
        ['a longer token (the token and more)', `Bearer ${TOKEN}x`],
        ['the token without the Bearer scheme', TOKEN],
        ['the token under the Basic scheme', `Basic ${TOKEN}`],
        ['the token twice', `Bearer ${TOKEN}, Bearer ${TOKEN}`],
      ];

      describe.each(routes)('%s %s', (method, path, ok) => {
        it.each(wrong)('refuses %s with 401 UNAUTHORIZED', async (_name, auth) => {
          const res = await call(t, method, path, auth);
          expectApiError(res, 401, 'UNAUTHORIZED');
        });

        it(`answers ${ok} with the right token`, async () => {
          const res = await call(t, method, path, `Bearer ${TOKEN}`);
          expect(res.status).toBe(ok);
        });
      });

      it('checks the token before the projection name (401, not 404, for an unknown one)', async () => {
        expectApiError(
          await call(t, 'post', '/projections/no-such-projection/rebuild'),
          401,
          'UNAUTHORIZED',
        );
        expectApiError(
          await call(t, 'post', '/projections/no-such-projection/rebuild', `Bearer ${TOKEN}`),
          404,
          'PROJECTION_NOT_FOUND',
        );
      });

      it('serves Prometheus text with tally_commands_total after a command', async () => {
        await openAccount(t.http, { ownerId: `owner-${randomUUID()}` });
        const res = await call(t, 'get', '/metrics', `Bearer ${TOKEN}`).expect(200);
        expect(res.headers['content-type']).toMatch(/^text\/plain/);
        expect(res.text).toMatch(/^# HELP /m);
        expect(res.text).toMatch(/^# TYPE tally_commands_total counter$/m);
        expect(res.text).toMatch(/^tally_commands_total\{[^}]*\} \d+$/m);
        expect(res.text).not.toContain(TOKEN);
      });

      it('lists projections with the right token', async () => {
        const res = await call(t, 'get', '/projections', `Bearer ${TOKEN}`).expect(200);
        expect(res.body.items).toEqual(
          expect.arrayContaining([expect.objectContaining({ name: 'account-summary' })]),
        );
      });

      it('leaves the public API open (no token needed)', async () => {
        await t.http.get('/health').expect(200);
        await openAccount(t.http, { ownerId: `owner-${randomUUID()}` });
      });
    });

    describe('without ADMIN_TOKEN, outside production', () => {
      let t: TestApp;
      beforeAll(async () => {
        t = await startTestApp({ production: false });
      });
      afterAll(() => t.close());

      it.each(routes)('%s %s is open', async (method, path, ok) => {
        expect((await call(t, method, path)).status).toBe(ok);
      });

      it('GET /metrics is Prometheus text with tally_commands_total after a command', async () => {
        await openAccount(t.http, { ownerId: `owner-${randomUUID()}` });
        const res = await t.http.get('/metrics').expect(200);
        expect(res.headers['content-type']).toMatch(/^text\/plain/);
        expect(res.text).toContain('tally_commands_total');
      });

      it('GET /metrics reads gauges from the database, and serves the rest when it cannot', async () => {
        await openAccount(t.http, { ownerId: `owner-${randomUUID()}` });
        const healthy = (await t.http.get('/metrics').expect(200)).text;
        expect(healthy).toMatch(/^tally_database_up 1$/m);
        expect(healthy).toMatch(/^tally_events_appended [1-9]\d*$/m);
        expect(healthy).toMatch(/^tally_projection_lag\{projection="account-summary"\} \d+$/m);
        const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
          code: 'ECONNREFUSED',
        });
        const outage = jest.spyOn(t.app.get(DataSource), 'query').mockRejectedValue(refused);
        try {
          const text = (await t.http.get('/metrics').expect(200)).text;
          expect(text).toMatch(/^tally_database_up 0$/m);
          expect(text).not.toMatch(/^tally_events_appended /m);
          expect(text).not.toContain('tally_projection_');
          // What helps in an outage is still there: the pool, the event loop, the commands.
          expect(text).toMatch(/^tally_db_pool_connections\{state="waiting"\} \d+$/m);
          expect(text).toMatch(/^tally_nodejs_eventloop_lag_seconds /m);
          expect(text).toMatch(/^tally_commands_total\{/m);
          // A database that does not answer: the same, after a second.
          outage.mockReturnValue(new Promise(() => undefined));
          const late = (await t.http.get('/metrics').expect(200)).text;
          expect(late).toMatch(/^tally_database_up 0$/m);
          expect(late).toMatch(/^tally_db_pool_connections\{state="waiting"\} \d+$/m);
        } finally {
          outage.mockRestore();
        }
      });
    });

    describe('in production without ADMIN_TOKEN', () => {
      let t: TestApp;
      beforeAll(async () => {
        t = await startTestApp({ production: true });
      });
      afterAll(() => t.close());

      it.each(routes)('%s %s is not served (404 with the error body)', async (method, path) => {
        expectApiError(await call(t, method, path), 404);
        expectApiError(await call(t, method, path, 'Bearer anything'), 404);
        expectApiError(await call(t, method, path, 'Bearer '), 404);
      });

      it('still serves the public API', async () => {
        await t.http.get('/health').expect(200);
        await openAccount(t.http, { ownerId: `owner-${randomUUID()}` });
      });
    });

    describe('in production with ADMIN_TOKEN', () => {
      let t: TestApp;
      beforeAll(async () => {
        t = await startTestApp({ production: true, adminToken: TOKEN });
      });
      afterAll(() => t.close());

      it.each(routes)('%s %s is served behind the token', async (method, path, ok) => {
        expectApiError(await call(t, method, path), 401, 'UNAUTHORIZED');
        expectApiError(await call(t, method, path, 'Bearer wrong'), 401, 'UNAUTHORIZED');
        expect((await call(t, method, path, `Bearer ${TOKEN}`)).status).toBe(ok);
      });
    });
  });

  describe('with the default configuration', () => {
    let t: TestApp;
    let accountId: string;
    let otherId: string;

    beforeAll(async () => {
      t = await startTestApp();
      accountId = await openAccount(t.http, { ownerId: 'sec-owner', initialDeposit: 10_000 });
      otherId = await openAccount(t.http, { ownerId: 'sec-owner-2' });
      // Past version 0, so that expectedVersion 0 (or -0) is a stale version.
      await t.http.post(`/accounts/${accountId}/deposits`).send({ amount: 1 }).expect(201);
    });
    afterAll(() => t.close());

    /** Events stored with this correlation id, in any stream (CONTRACT §3 "Correlation"). */
    const eventsCausedBy = async (correlationId: string): Promise<number> => {
      const [row] = await t.app
        .get(DataSource)
        .query(`SELECT count(*)::int AS n FROM events WHERE metadata->>'correlationId' = $1`, [
          correlationId,
        ]);
      return row.n;
    };

    const eventCount = async (id: string) =>
      (await t.http.get(`/accounts/${id}/events`).expect(200)).body.items.length as number;

    /** Every command path, with a body that would be valid. */
    const commands = () =>
      [
        ['/accounts', { ownerId: 'x' }],
        [`/accounts/${accountId}/deposits`, { amount: 1 }],
        [`/accounts/${accountId}/withdrawals`, { amount: 1 }],
        [`/accounts/${accountId}/close`, {}],
        ['/transfers', { fromAccountId: accountId, toAccountId: otherId, amount: 1 }],
      ] as const;

    describe('body limit (64 kB)', () => {
      /** A valid JSON body padded with whitespace to exactly `bytes` bytes. */
      const padded = (body: object, bytes: number) => {
        const json = JSON.stringify(body);
        return `${json.slice(0, -1)}${' '.repeat(bytes - json.length)}}`;
      };

      it('accepts a body of exactly 64 kB', async () => {
        const ownerId = `owner-${randomUUID()}`;
        const body = padded({ ownerId }, KB64);
        expect(Buffer.byteLength(body)).toBe(KB64);
        const res = await postRaw(t.http, '/accounts', body);
        expect(res.status).toBe(201);
      });

      it.each([
        ['64 kB + 1 byte', KB64 + 1],
        ['100 kB', 100 * 1024],
        ['2 MB', 2 * 1024 * 1024],
      ])('refuses %s on POST /accounts with 413 PAYLOAD_TOO_LARGE', async (_name, bytes) => {
        const ownerId = `owner-${randomUUID()}`;
        const res = await postRaw(t.http, '/accounts', padded({ ownerId }, bytes));
        expectApiError(res, 413, 'PAYLOAD_TOO_LARGE');
        const list = await t.http.get(`/accounts?ownerId=${ownerId}`).expect(200);
        expect(list.body.items).toEqual([]);
      });

      it('refuses a body above 64 kB on POST /transfers with 413, appending nothing', async () => {
        const before = await eventCount(accountId);
        const body = padded(
          { fromAccountId: accountId, toAccountId: otherId, amount: 1 },
          KB64 + 1,
        );
        expectApiError(await postRaw(t.http, '/transfers', body), 413, 'PAYLOAD_TOO_LARGE');
        expect(await eventCount(accountId)).toBe(before);
      });

      it.each([
        ['deposits', { amount: 1 }],
        ['withdrawals', { amount: 1 }],
        ['close', {}],
      ])('refuses a body above 64 kB on POST /accounts/:id/%s with 413', async (path, body) => {
        const before = await eventCount(accountId);
        const res = await postRaw(t.http, `/accounts/${accountId}/${path}`, padded(body, KB64 + 1));
        expectApiError(res, 413, 'PAYLOAD_TOO_LARGE');
        expect(await eventCount(accountId)).toBe(before);
      });

      it('counts the decompressed size: a gzip bomb gets 413, not a 2 MB parse', async () => {
        const ownerId = `owner-${randomUUID()}`;
        const bomb = gzipSync(Buffer.from(padded({ ownerId }, 2 * 1024 * 1024)));
        expect(bomb.length).toBeLessThan(KB64);
        const res = await postRaw(t.http, '/accounts', bomb, { 'Content-Encoding': 'gzip' });
        expectApiError(res, 413, 'PAYLOAD_TOO_LARGE');
      });
    });

    describe('malformed bodies', () => {
      it.each([
        ['an unclosed object', '{"ownerId": "x"'],
        ['a trailing comma', '{"ownerId": "x",}'],
        ['single quotes', "{'ownerId': 'x'}"],
        ['unquoted keys', '{ownerId: "x"}'],
        ['trailing garbage', '{"ownerId": "x"} x'],
        ['NaN', '{"ownerId": "x", "initialDeposit": NaN}'],
        ['a lone brace', '{'],
        ['an empty string', ''],
        ['a comment', '{"ownerId": "x" /* hi */}'],
        ['a hex number', '{"ownerId": "x", "initialDeposit": 0x10}'],
      ])('refuses %s with 400 VALIDATION_FAILED', async (_name, body) => {
        const res = await postRaw(t.http, '/accounts', body);
        // (An empty body is parsed as {}: then ownerId is missing.)
        expectApiError(res, 400, 'VALIDATION_FAILED');
      });

      it.each([
        ['an unsupported charset', { 'Content-Type': 'application/json; charset=latin1' }],
        ['an unknown charset', { 'Content-Type': 'application/json; charset=x-nonsense' }],
        ['an unsupported Content-Encoding', { 'Content-Encoding': 'compress' }],
        ['an unknown Content-Encoding', { 'Content-Encoding': 'x-nonsense' }],
      ])('answers %s with a 4xx error body, never a 500', async (_name, headers) => {
        const res = await postRaw(t.http, '/accounts', '{"ownerId":"x"}', headers);
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expectApiError(res, res.status);
      });

      it('answers a corrupt gzip body with 400, never a 500', async () => {
        const res = await postRaw(t.http, '/accounts', Buffer.from('not gzip at all'), {
          'Content-Encoding': 'gzip',
        });
        expectApiError(res, 400, 'VALIDATION_FAILED');
      });

      it.each([
        ['an array', '[]'],
        ['an array of a valid body', '[{"amount": 1}]'],
        ['a string', '"amount"'],
        ['a number', '1'],
        ['null', 'null'],
        ['true', 'true'],
        ['false', 'false'],
      ])('refuses %s as the whole body on every command', async (_name, body) => {
        const before = await eventCount(accountId);
        for (const [path] of commands()) {
          expectApiError(await postRaw(t.http, path, body), 400, 'VALIDATION_FAILED');
        }
        expect(await eventCount(accountId)).toBe(before);
      });
    });

    describe('hostile JSON', () => {
      const POLLUTE = '{"polluted": "yes", "toString": 1, "amount": 1, "ownerId": "x"}';
      /** Adds a raw `"key": value` member to a valid JSON object text, last or first. */
      const withKey = (valid: string, member: string, first = false) => {
        const inner = valid.slice(1, -1).trim();
        if (!inner) return `{${member}}`;
        return first ? `{${member}, ${inner}}` : `{${inner}, ${member}}`;
      };
      /** Hostile variants of a valid body (raw text: JSON.stringify would drop `__proto__`). */
      const hostile: [string, (valid: string) => string][] = [
        ['__proto__ at the top level', (v) => withKey(v, `"__proto__": ${POLLUTE}`)],
        ['__proto__ as the first key', (v) => withKey(v, `"__proto__": ${POLLUTE}`, true)],
        ['__proto__ as an empty object', (v) => withKey(v, '"__proto__": {}')],
        ['__proto__ as null', (v) => withKey(v, '"__proto__": null')],
        ['__proto__ holding a valid field', (v) => withKey(v, '"__proto__": {"amount": 5}')],
        [
          'constructor.prototype at the top level',
          (v) => withKey(v, `"constructor": {"prototype": ${POLLUTE}}`),
        ],
        ['constructor as a string', (v) => withKey(v, '"constructor": "Object"')],
        ['prototype at the top level', (v) => withKey(v, `"prototype": ${POLLUTE}`)],
        ['a nested __proto__', (v) => withKey(v, `"meta": {"__proto__": ${POLLUTE}}`)],
        [
          'a doubly nested __proto__',
          (v) => withKey(v, `"a": {"b": {"__proto__": {"__proto__": ${POLLUTE}}}}`),
        ],
        [
          'a nested constructor.prototype',
          (v) => withKey(v, `"meta": {"constructor": {"prototype": ${POLLUTE}}}`),
        ],
        ['__proto__ inside an array', (v) => withKey(v, `"list": [{"__proto__": ${POLLUTE}}]`)],
        ['an array holding __proto__', () => `[{"__proto__": ${POLLUTE}}]`],
        // Unknown fields named like Object.prototype's members must be refused like any other.
        ['a toString key', (v) => withKey(v, '"toString": 0')],
        ['a valueOf key', (v) => withKey(v, '"valueOf": "x"')],
        ['a hasOwnProperty key', (v) => withKey(v, '"hasOwnProperty": null')],
        ['a __defineGetter__ key', (v) => withKey(v, '"__defineGetter__": {}')],
      ];

      /** Each command with a valid body on fresh accounts (a zero balance, so a close would pass). */
      const targets: [string, () => Promise<[path: string, valid: string]>][] = [
        ['POST /accounts', async () => ['/accounts', `{"ownerId": "hostile-${randomUUID()}"}`]],
        [
          'POST /accounts/:id/deposits',
          async () => [`/accounts/${await openAccount(t.http)}/deposits`, '{"amount": 1}'],
        ],
        [
          'POST /accounts/:id/withdrawals',
          async () => [
            `/accounts/${await openAccount(t.http, { initialDeposit: 100 })}/withdrawals`,
            '{"amount": 1}',
          ],
        ],
        [
          'POST /accounts/:id/close',
          async () => [`/accounts/${await openAccount(t.http)}/close`, '{}'],
        ],
        [
          'POST /transfers',
          async () => {
            const from = await openAccount(t.http, { initialDeposit: 100 });
            const to = await openAccount(t.http);
            return [
              '/transfers',
              JSON.stringify({ fromAccountId: from, toAccountId: to, amount: 1 }),
            ];
          },
        ],
      ];

      /** Sends each hostile variant to fresh accounts; returns the ones not refused with 400. */
      async function refusals(
        prepare: () => Promise<[string, string]>,
        cases: typeof hostile,
      ): Promise<string[]> {
        const failures: string[] = [];
        for (const [what, make] of cases) {
          const [path, valid] = await prepare();
          const body = make(valid);
          const correlationId = `hostile-${randomUUID()}`;
          const before = prototypeSnapshot();
          const res = await postRaw(t.http, path, body, { 'X-Correlation-Id': correlationId });
          // Whatever the answer, nothing may leak into the prototypes of this process.
          expect(({} as Record<string, unknown>).polluted).toBeUndefined();
          expect(Object.prototype.toString.call([])).toBe('[object Array]');
          expect(prototypeSnapshot()).toEqual(before);
          const appended = await eventsCausedBy(correlationId);
          if (res.status === 400) expectApiError(res, 400, 'VALIDATION_FAILED');
          if (res.status !== 400 || appended !== 0) {
            failures.push(`${what}: ${res.status} ${res.text} (${appended} events) for ${body}`);
          }
        }
        // A fresh request still works, and nothing polluted shows in an answer.
        const account = await t.http.get(`/accounts/${accountId}`).expect(200);
        expect(account.body.polluted).toBeUndefined();
        expect(account.body.accountId).toBe(accountId);
        return failures;
      }

      const isNested = ([what]: (typeof hostile)[number]) =>
        /nested|inside|array holding/.test(what);

      describe.each(targets)('%s', (_target, prepare) => {
        it('refuses __proto__ / constructor / prototype nested in the body with 400, polluting nothing', async () => {
          expect(await refusals(prepare, hostile.filter(isNested))).toEqual([]);
        });

        it('refuses top-level __proto__ / constructor / prototype / Object.prototype member keys with 400, appending nothing', async () => {
          expect(
            await refusals(
              prepare,
              hostile.filter((c) => !isNested(c)),
            ),
          ).toEqual([]);
        });
      });

      it('never serves polluted objects to later requests', async () => {
        const ownerId = `owner-${randomUUID()}`;
        await openAccount(t.http, { ownerId });
        const list = await t.http.get(`/accounts?ownerId=${ownerId}`).expect(200);
        for (const item of list.body.items) expect(Object.keys(item)).not.toContain('polluted');
        const health = await t.http.get('/health').expect(200);
        expect(health.body.polluted).toBeUndefined();
      });

      const nested = (levels: number, leaf: string, open = '{"a":', close = '}') =>
        open.repeat(levels) + leaf + close.repeat(levels);

      /** Every command with a nested value of `depth` levels in a field or in an extra field. */
      const deepBodies = (depth: number): [string, string, string][] => {
        const objects = (leaf: string) => nested(depth, leaf);
        const arrays = (leaf: string) => nested(depth, leaf, '[', ']');
        const money = ['deposits', 'withdrawals'].flatMap((p): [string, string, string][] => [
          [`${p}: amount (objects)`, `/accounts/${accountId}/${p}`, `{"amount": ${objects('1')}}`],
          [`${p}: amount (arrays)`, `/accounts/${accountId}/${p}`, `{"amount": ${arrays('1')}}`],
          [
            `${p}: extra field (objects)`,
            `/accounts/${accountId}/${p}`,
            `{"amount": 1, "x": ${objects('1')}}`,
          ],
          [
            `${p}: extra field (arrays)`,
            `/accounts/${accountId}/${p}`,
            `{"amount": 1, "x": ${arrays('1')}}`,
          ],
          [
            `${p}: expectedVersion`,
            `/accounts/${accountId}/${p}`,
            `{"amount": 1, "expectedVersion": ${objects('0')}}`,
          ],
        ]);
        return [
          ...money,
          [
            'close: expectedVersion',
            `/accounts/${accountId}/close`,
            `{"expectedVersion": ${objects('0')}}`,
          ],
          ['open: ownerId', '/accounts', `{"ownerId": ${objects('"x"')}}`],
          ['open: currency', '/accounts', `{"ownerId": "x", "currency": ${objects('"USD"')}}`],
          ['open: extra field', '/accounts', `{"ownerId": "x", "x": ${arrays('"x"')}}`],
          [
            'transfer: fromAccountId',
            '/transfers',
            `{"fromAccountId": ${objects(`"${accountId}"`)}, "toAccountId": "${otherId}", "amount": 1}`,
          ],
          [
            'transfer: extra field',
            '/transfers',
            `{"fromAccountId": "${accountId}", "toAccountId": "${otherId}", "amount": 1, "x": ${arrays('1')}}`,
          ],
        ];
      };

      /** Sends them all; returns the ones not refused with 400 (checking nothing was appended). */
      async function deepRefusals(
        depth: number,
        headers: () => Record<string, string> = () => ({}),
      ) {
        const before = await eventCount(accountId);
        const failures: string[] = [];
        for (const [what, path, body] of deepBodies(depth)) {
          expect(Buffer.byteLength(body)).toBeLessThan(KB64);
          const res = await postRaw(t.http, path, body, headers());
          if (res.status === 400) expectApiError(res, 400, 'VALIDATION_FAILED');
          else failures.push(`${what}: ${res.status} ${res.text}`);
        }
        expect(await eventCount(accountId)).toBe(before);
        return failures;
      }

      it('refuses 100 levels of nesting with 400 on every command', async () => {
        expect(await deepRefusals(100)).toEqual([]);
      });

      it('refuses 5,000 levels of nesting with 400 on every command, never a 500', async () => {
        expect(await deepRefusals(5000)).toEqual([]);
      });

      it('refuses 5,000 levels of nesting with an Idempotency-Key with 400, never a 500', async () => {
        const key = () => ({ 'Idempotency-Key': `deep-${randomUUID()}` });
        expect(await deepRefusals(5000, key)).toEqual([]);
      });

      it('survives the deepest nesting that fits in 64 kB (32,000 arrays) with a 400', async () => {
        const body = `{"amount": 1, "x": ${nested(32_000, '1', '[', ']')}}`;
        expect(Buffer.byteLength(body)).toBeLessThan(KB64);
        const res = await postRaw(t.http, `/accounts/${accountId}/deposits`, body);
        expectApiError(res, 400, 'VALIDATION_FAILED');
        await t.http.get('/health').expect(200);
      });

      const badNumbers: [string, string][] = [
        ['2**53 + 1', '9007199254740993'],
        ['2**53', '9007199254740992'],
        ['1e308', '1e308'],
        ['1e400 (Infinity)', '1e400'],
        ['-1e400 (-Infinity)', '-1e400'],
        ['-0', '-0'],
        ['0', '0'],
        ['1e-7', '1e-7'],
        ['0.5', '0.5'],
        ['1.0000000000000002', '1.0000000000000002'],
        ['10^11 + 1', '100000000001'],
        ['-1', '-1'],
        ['-9007199254740993', '-9007199254740993'],
        ['a numeric string', '"100"'],
        ['a string with an exponent', '"1e2"'],
        ['an empty string', '""'],
        ['null', 'null'],
        ['true', 'true'],
        ['an empty array', '[]'],
        ['an array of a number', '[1]'],
        ['an object', '{"value": 1}'],
      ];

      describe.each(['deposits', 'withdrawals'])('POST /accounts/:id/%s', (path) => {
        it.each(badNumbers)('refuses %s as the amount with 400', async (_name, literal) => {
          const before = await eventCount(accountId);
          const res = await postRaw(
            t.http,
            `/accounts/${accountId}/${path}`,
            `{"amount": ${literal}}`,
          );
          expectApiError(res, 400, 'VALIDATION_FAILED');
          expect(await eventCount(accountId)).toBe(before);
        });

        it.each(badNumbers.filter(([name]) => name !== '0'))(
          'refuses %s as expectedVersion with 400',
          async (_name, literal) => {
            const res = await postRaw(
              t.http,
              `/accounts/${accountId}/${path}`,
              `{"amount": 1, "expectedVersion": ${literal}}`,
            );
            if (literal === '-0') {
              // -0 is the integer 0: a version, merely a stale one.
              expectApiError(res, 409, 'CONCURRENCY_CONFLICT');
            } else {
              expectApiError(res, 400, 'VALIDATION_FAILED');
            }
          },
        );
      });

      it.each(badNumbers)(
        'POST /transfers refuses %s as the amount with 400',
        async (_name, literal) => {
          const before = await eventCount(accountId);
          const res = await postRaw(
            t.http,
            '/transfers',
            `{"fromAccountId": "${accountId}", "toAccountId": "${otherId}", "amount": ${literal}}`,
          );
          expectApiError(res, 400, 'VALIDATION_FAILED');
          expect(await eventCount(accountId)).toBe(before);
        },
      );

      it.each(badNumbers.filter(([name]) => !['-0', '0'].includes(name)))(
        'POST /accounts refuses %s as initialDeposit with 400',
        async (_name, literal) => {
          const ownerId = `owner-${randomUUID()}`;
          const res = await postRaw(
            t.http,
            '/accounts',
            `{"ownerId": "${ownerId}", "initialDeposit": ${literal}}`,
          );
          expectApiError(res, 400, 'VALIDATION_FAILED');
          const list = await t.http.get(`/accounts?ownerId=${ownerId}`).expect(200);
          expect(list.body.items).toEqual([]);
        },
      );

      it.each([
        ['a NUL character', 'a\\u0000b'],
        ['a lone high surrogate', 'a\\ud800b'],
        ['a lone low surrogate', '\\udc00'],
        ['a reversed surrogate pair', '\\udc00\\ud800'],
      ])('POST /accounts answers an ownerId with %s without a 5xx', async (_name, escaped) => {
        const res = await postRaw(t.http, '/accounts', `{"ownerId": "${escaped}"}`);
        if (res.status === 201) {
          await t.http.get(`/accounts/${res.body.accountId}/events`).expect(200);
        } else {
          expectApiError(res, 400, 'VALIDATION_FAILED');
        }
      });

      it.each([
        ['a NUL character', 'a%00b'],
        ['a lone surrogate (invalid UTF-8)', 'a%ED%A0%80b'],
        ['invalid UTF-8', 'a%FFb'],
      ])('GET /accounts?ownerId= with %s answers without a 5xx', async (_name, encoded) => {
        const res = await t.http.get(`/accounts?ownerId=${encoded}`);
        if (res.status === 200) expect(res.body).toEqual({ items: [] });
        else expectApiError(res, 400, 'VALIDATION_FAILED');
      });

      it('keeps answering normally after all of the above', async () => {
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        const res = await t.http
          .post(`/accounts/${accountId}/deposits`)
          .send({ amount: 1 })
          .expect(201);
        expect(res.body.accountId).toBe(accountId);
      });
    });

    describe('headers', () => {
      const samples = (): [string, () => Promise<Response>][] => [
        ['a 200', () => t.http.get(`/accounts/${accountId}`)],
        ['a 201', () => t.http.post('/accounts').send({ ownerId: `o-${randomUUID()}` })],
        ['a 400', () => t.http.post('/accounts').send({ ownerId: 42 })],
        ['a 404 (unknown route)', () => t.http.get('/no-such-route')],
        ['a 413 (before any route)', () => postRaw(t.http, '/accounts', ' '.repeat(KB64 + 1))],
        ['a malformed-JSON 400 (before any route)', () => postRaw(t.http, '/accounts', '{')],
      ];

      it.each(samples())('sets helmet headers and no X-Powered-By on %s', async (_name, send) => {
        const res = await send();
        expect(res.headers['x-content-type-options']).toBe('nosniff');
        expect(res.headers['x-frame-options']).toMatch(/^(SAMEORIGIN|DENY)$/);
        expect(res.headers['strict-transport-security']).toBeDefined();
        expect(res.headers['content-security-policy']).toBeDefined();
        expect(res.headers['x-powered-by']).toBeUndefined();
      });

      it('sends no CORS headers by default, for a simple request or a preflight', async () => {
        const simple = await t.http
          .get(`/accounts/${accountId}`)
          .set('Origin', 'https://evil.example');
        expect(simple.status).toBe(200);
        expect(simple.headers['access-control-allow-origin']).toBeUndefined();
        expect(simple.headers['access-control-allow-credentials']).toBeUndefined();
        const preflight = await t.http
          .options('/accounts')
          .set('Origin', 'https://evil.example')
          .set('Access-Control-Request-Method', 'POST');
        expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
        expect(preflight.headers['access-control-allow-methods']).toBeUndefined();
      });
    });

    describe('error bodies', () => {
      const samples = (): [string, number, () => Promise<Response>][] => [
        ['a validation error', 400, () => t.http.post('/accounts').send({ ownerId: 42 })],
        ['an unknown field', 400, () => t.http.post('/accounts').send({ ownerId: 'x', y: 1 })],
        ['malformed JSON', 400, () => postRaw(t.http, '/accounts', '{"ownerId": ')],
        ['a bad id', 400, () => t.http.get('/accounts/not-a-uuid')],
        ['a bad query', 400, () => t.http.get(`/accounts/${accountId}/transactions?limit=x`)],
        ['a SQL-looking id', 400, () => t.http.get("/accounts/1'%20OR%20'1'='1")],
        [
          'a SQL-looking owner',
          200,
          () => t.http.get(`/accounts?ownerId=${encodeURIComponent("x' OR '1'='1")}`),
        ],
        ['an unknown route', 404, () => t.http.get('/no-such-route')],
        ['an unknown account', 404, () => t.http.get(`/accounts/${randomUUID()}`)],
        ['an unknown transfer', 404, () => t.http.get(`/transfers/${randomUUID()}`)],
        ['an unknown projection', 404, () => t.http.post('/projections/nope/rebuild')],
        [
          'a stale expectedVersion',
          409,
          () =>
            t.http.post(`/accounts/${accountId}/deposits`).send({ amount: 1, expectedVersion: 0 }),
        ],
        ['a too large body', 413, () => postRaw(t.http, '/accounts', ' '.repeat(KB64 + 1))],
        [
          'short funds',
          422,
          () => t.http.post(`/accounts/${otherId}/withdrawals`).send({ amount: 1_000_000 }),
        ],
        [
          'the same account',
          422,
          () =>
            t.http
              .post('/transfers')
              .send({ fromAccountId: accountId, toAccountId: accountId, amount: 1 }),
        ],
        [
          'a read model that never reaches the position (503 STALE_READ_MODEL)',
          503,
          () => t.http.get(`/accounts/${accountId}?minPosition=999999999`),
        ],
      ];

      it.each(samples())(
        '%s answers %i with exactly {statusCode, code, message}, no stack, SQL or class name',
        async (_name, status, send) => {
          const res = await send();
          if (status === 200) {
            // The SQL-looking owner is only a string: no rows, no error.
            expect(res.status).toBe(200);
            expect(res.body).toEqual({ items: [] });
            return;
          }
          expectApiError(res, status);
        },
        15_000, // the 503 waits the 5 s the contract allows
      );
    });

    describe('without a rate limit', () => {
      it('answers 50 quick requests normally', async () => {
        const responses = await Promise.all(
          Array.from({ length: 50 }, () => t.http.get(`/accounts/${accountId}`)),
        );
        expect(responses.map((r) => r.status)).toEqual(responses.map(() => 200));
        expect(responses.every((r) => r.headers['ratelimit'] === undefined)).toBe(true);
      });
    });

    describe('X-Correlation-Id', () => {
      it.each([
        ['a UUID', randomUUID()],
        ['letters, digits and ._:-', 'req-42_a.b:c'],
        ['one character', 'x'],
        ['128 characters', 'a'.repeat(128)],
      ])('echoes a valid one (%s)', async (_name, id) => {
        const res = await t.http.get(`/accounts/${accountId}`).set('X-Correlation-Id', id);
        expect(res.status).toBe(200);
        expect(res.headers['x-correlation-id']).toBe(id);
      });

      it('stores a valid one on the events the command causes', async () => {
        const id = `corr-${randomUUID()}`;
        const res = await t.http
          .post(`/accounts/${accountId}/deposits`)
          .set('X-Correlation-Id', id)
          .send({ amount: 1 })
          .expect(201);
        expect(res.headers['x-correlation-id']).toBe(id);
        const events = await t.http.get(`/accounts/${accountId}/events`).expect(200);
        const last = events.body.items.at(-1);
        expect(last.metadata.correlationId).toBe(id);
      });

      it.each([
        ['300 characters', 'a'.repeat(300)],
        ['129 characters', 'a'.repeat(129)],
        ['spaces', 'has spaces in it'],
        ['markup', '<script>alert(1)</script>'],
        ['a quote and a semicolon', "x';DROP TABLE events;--"],
        ['a slash', 'a/b'],
        ['non-ASCII', 'caf\u00e9'],
        ['an empty value', ''],
      ])('replaces an invalid one (%s) with a generated UUID', async (_name, id) => {
        const res = await t.http
          .post(`/accounts/${accountId}/deposits`)
          .set('X-Correlation-Id', id)
          .send({ amount: 1 })
          .expect(201);
        const used = res.headers['x-correlation-id'];
        expect(used).toMatch(UUID);
        const events = await t.http.get(`/accounts/${accountId}/events`).expect(200);
        expect(events.body.items.at(-1).metadata.correlationId).toBe(used);
      });

      it.each([
        [
          'a 404 (unknown route)',
          (h: Record<string, string>) => t.http.get('/no-such-route').set(h),
        ],
        [
          'a 400 (validation)',
          (h: Record<string, string>) => t.http.post('/accounts').set(h).send({ ownerId: 42 }),
        ],
        [
          'a 400 (malformed JSON)',
          (h: Record<string, string>) => postRaw(t.http, '/accounts', '{', h),
        ],
        [
          'a 413 (too large)',
          (h: Record<string, string>) => postRaw(t.http, '/accounts', ' '.repeat(KB64 + 1), h),
        ],
      ])('echoes the correlation id on %s', async (_name, send) => {
        const id = `corr-${randomUUID()}`;
        const res = await send({ 'X-Correlation-Id': id });
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.headers['x-correlation-id']).toBe(id);
      });
    });
  });

  describe('with CORS_ORIGINS', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp({ corsOrigins: ['https://bank.example'] });
    });
    afterAll(() => t.close());

    it('allows the configured origin', async () => {
      const res = await t.http.get('/health').set('Origin', 'https://bank.example').expect(200);
      expect(res.headers['access-control-allow-origin']).toBe('https://bank.example');
      expect(res.headers['access-control-allow-origin']).not.toBe('*');
    });

    it('answers a preflight from the configured origin', async () => {
      const res = await t.http
        .options('/accounts')
        .set('Origin', 'https://bank.example')
        .set('Access-Control-Request-Method', 'POST')
        .set('Access-Control-Request-Headers', 'content-type');
      expect(res.status).toBeLessThan(300);
      expect(res.headers['access-control-allow-origin']).toBe('https://bank.example');
    });

    it.each([
      ['another origin', 'https://evil.example'],
      ['a look-alike suffix', 'https://bank.example.evil.example'],
      ['a look-alike prefix', 'https://evilbank.example'],
      ['another scheme', 'http://bank.example'],
      ['another port', 'https://bank.example:8443'],
      ['null', 'null'],
    ])('does not allow %s', async (_name, origin) => {
      const simple = await t.http.get('/health').set('Origin', origin);
      expect(simple.headers['access-control-allow-origin']).toBeUndefined();
      const preflight = await t.http
        .options('/accounts')
        .set('Origin', origin)
        .set('Access-Control-Request-Method', 'POST');
      expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    });
  });

  describe('with RATE_LIMIT_PER_MINUTE=5', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp({ rateLimitPerMinute: 5 });
    });
    afterAll(() => t.close());

    it('answers the 6th request within a minute with 429 TOO_MANY_REQUESTS', async () => {
      for (let i = 0; i < 5; i++) {
        const res = await t.http.get('/health');
        expect(res.status).toBe(200);
      }
      const sixth = await t.http.get('/health');
      expectApiError(sixth, 429, 'TOO_MANY_REQUESTS');
      expect(sixth.headers['x-content-type-options']).toBe('nosniff');
      // Commands are limited too, and a limited one appends nothing.
      const command = await t.http.post('/accounts').send({ ownerId: 'limited' });
      expectApiError(command, 429, 'TOO_MANY_REQUESTS');
    });
  });
});
