import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApp, type TestApp } from '../support/app.js';

/** CONTRACT §3: ISO-8601, UTC, millisecond precision. */
const ISO_UTC_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_AMOUNT = 100_000_000_000;

interface CommandResult {
  accountId: string;
  version: number;
  position: number;
}

interface AuditItem {
  version: number;
  position: number;
  type: string;
  schemaVersion: number;
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  recordedAt: string;
}

function expectInteger(value: unknown): void {
  expect(typeof value).toBe('number');
  expect(Number.isInteger(value)).toBe(true);
}

function expectIsoUtcMs(value: unknown): void {
  expect(typeof value).toBe('string');
  expect(value).toMatch(ISO_UTC_MS);
}

function expectCommandResult(body: unknown, accountId?: string): CommandResult {
  const result = body as CommandResult;
  expect(Object.keys(result).sort()).toEqual(['accountId', 'position', 'version']);
  expect(result.accountId).toMatch(UUID);
  if (accountId) expect(result.accountId).toBe(accountId);
  expectInteger(result.version);
  expectInteger(result.position);
  expect(result.position).toBeGreaterThanOrEqual(1);
  return result;
}

function expectAccountShape(account: Record<string, unknown>): void {
  expect(Object.keys(account).sort()).toEqual([
    'accountId',
    'balance',
    'currency',
    'openedAt',
    'ownerId',
    'status',
    'updatedAt',
    'version',
  ]);
  expect(account.accountId).toMatch(UUID);
  expect(typeof account.ownerId).toBe('string');
  expect(account.currency).toMatch(/^[A-Z]{3}$/);
  expectInteger(account.balance);
  expect(['open', 'closed']).toContain(account.status);
  expectInteger(account.version);
  expectIsoUtcMs(account.openedAt);
  expectIsoUtcMs(account.updatedAt);
}

describe('accounts HTTP API', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  const uniqueOwner = () => `owner-${randomUUID()}`;

  async function open(
    body: { ownerId?: string; initialDeposit?: number; currency?: string } = {},
  ): Promise<CommandResult> {
    const res = await t.http
      .post('/accounts')
      .send({ ownerId: uniqueOwner(), ...body })
      .expect(201);
    return expectCommandResult(res.body);
  }

  async function deposit(id: string, amount: number): Promise<CommandResult> {
    const res = await t.http.post(`/accounts/${id}/deposits`).send({ amount }).expect(201);
    return expectCommandResult(res.body, id);
  }

  async function withdraw(id: string, amount: number): Promise<CommandResult> {
    const res = await t.http.post(`/accounts/${id}/withdrawals`).send({ amount }).expect(201);
    return expectCommandResult(res.body, id);
  }

  async function closeAccount(id: string): Promise<CommandResult> {
    const res = await t.http.post(`/accounts/${id}/close`).send({}).expect(201);
    return expectCommandResult(res.body, id);
  }

  async function readAccount(id: string, minPosition: number): Promise<Record<string, unknown>> {
    const res = await t.http.get(`/accounts/${id}?minPosition=${minPosition}`).expect(200);
    expectAccountShape(res.body);
    return res.body;
  }

  async function auditTrail(id: string): Promise<AuditItem[]> {
    const res = await t.http.get(`/accounts/${id}/events`).expect(200);
    expect(Object.keys(res.body)).toEqual(['items']);
    return res.body.items as AuditItem[];
  }

  describe('POST /accounts', () => {
    it('opens an account and answers 201 with its id, version 0 and a position', async () => {
      const res = await t.http.post('/accounts').send({ ownerId: uniqueOwner() }).expect(201);
      const opened = expectCommandResult(res.body);
      expect(opened.version).toBe(0);
    });

    it('generates a different id for every account', async () => {
      const ownerId = uniqueOwner();
      const a = await open({ ownerId });
      const b = await open({ ownerId });
      expect(a.accountId).not.toBe(b.accountId);
      expect(b.position).toBeGreaterThan(a.position);
    });

    it('defaults the currency to USD and the initial deposit to 0', async () => {
      const ownerId = uniqueOwner();
      const opened = await open({ ownerId });
      const account = await readAccount(opened.accountId, opened.position);
      expect(account).toMatchObject({
        accountId: opened.accountId,
        ownerId,
        currency: 'USD',
        balance: 0,
        status: 'open',
        version: 0,
      });
    });

    it('keeps the given currency and initial deposit', async () => {
      const opened = await open({ initialDeposit: 1050, currency: 'EUR' });
      const account = await readAccount(opened.accountId, opened.position);
      expect(account).toMatchObject({ currency: 'EUR', balance: 1050, status: 'open', version: 0 });
    });

    it('accepts an explicit initial deposit of 0', async () => {
      const opened = await open({ initialDeposit: 0 });
      const account = await readAccount(opened.accountId, opened.position);
      expect(account.balance).toBe(0);
    });

    it('accepts the largest amount as an initial deposit', async () => {
      const opened = await open({ initialDeposit: MAX_AMOUNT });
      const account = await readAccount(opened.accountId, opened.position);
      expect(account.balance).toBe(MAX_AMOUNT);
    });
  });

  describe('POST /accounts/:id/deposits', () => {
    it('adds the amount to the balance and answers the next version', async () => {
      const opened = await open({ initialDeposit: 100 });
      const deposited = await deposit(opened.accountId, 250);
      expect(deposited.version).toBe(1);
      expect(deposited.position).toBeGreaterThan(opened.position);
      const account = await readAccount(opened.accountId, deposited.position);
      expect(account).toMatchObject({ balance: 350, version: 1 });
    });

    it('accepts the smallest and the largest amount', async () => {
      const opened = await open();
      await deposit(opened.accountId, 1);
      const last = await deposit(opened.accountId, MAX_AMOUNT);
      const account = await readAccount(opened.accountId, last.position);
      expect(account.balance).toBe(MAX_AMOUNT + 1);
    });

    it('returns balances above 32 bits as JSON integers, not strings', async () => {
      const opened = await open({ initialDeposit: MAX_AMOUNT });
      const last = await deposit(opened.accountId, MAX_AMOUNT);
      const account = await readAccount(opened.accountId, last.position);
      expect(account.balance).toBe(2 * MAX_AMOUNT);
      const lines = await t.http
        .get(`/accounts/${opened.accountId}/transactions?minPosition=${last.position}`)
        .expect(200);
      expect(lines.body.items.map((l: { balanceAfter: number }) => l.balanceAfter)).toEqual([
        MAX_AMOUNT,
        2 * MAX_AMOUNT,
      ]);
    });

    it('succeeds with the current expectedVersion', async () => {
      const opened = await open();
      const res = await t.http
        .post(`/accounts/${opened.accountId}/deposits`)
        .send({ amount: 10, expectedVersion: 0 })
        .expect(201);
      expect(expectCommandResult(res.body, opened.accountId).version).toBe(1);
    });
  });

  describe('POST /accounts/:id/withdrawals', () => {
    it('subtracts the amount from the balance and answers the next version', async () => {
      const opened = await open({ initialDeposit: 1000 });
      const withdrawn = await withdraw(opened.accountId, 300);
      expect(withdrawn.version).toBe(1);
      expect(withdrawn.position).toBeGreaterThan(opened.position);
      const account = await readAccount(opened.accountId, withdrawn.position);
      expect(account).toMatchObject({ balance: 700, version: 1 });
    });

    it('may take the whole balance, down to 0', async () => {
      const opened = await open({ initialDeposit: 500 });
      const withdrawn = await withdraw(opened.accountId, 500);
      const account = await readAccount(opened.accountId, withdrawn.position);
      expect(account.balance).toBe(0);
    });

    it('succeeds with the current expectedVersion', async () => {
      const opened = await open({ initialDeposit: 500 });
      const res = await t.http
        .post(`/accounts/${opened.accountId}/withdrawals`)
        .send({ amount: 10, expectedVersion: 0 })
        .expect(201);
      expect(expectCommandResult(res.body, opened.accountId).version).toBe(1);
    });
  });

  describe('POST /accounts/:id/close', () => {
    it('closes an account whose balance is 0', async () => {
      const opened = await open({ initialDeposit: 200 });
      await withdraw(opened.accountId, 200);
      const closed = await closeAccount(opened.accountId);
      expect(closed.version).toBe(2);
      const account = await readAccount(opened.accountId, closed.position);
      expect(account).toMatchObject({ status: 'closed', balance: 0, version: 2 });
    });

    it('accepts an empty request body', async () => {
      const opened = await open();
      const res = await t.http.post(`/accounts/${opened.accountId}/close`).expect(201);
      expect(expectCommandResult(res.body, opened.accountId).version).toBe(1);
    });

    it('succeeds with the current expectedVersion', async () => {
      const opened = await open();
      const res = await t.http
        .post(`/accounts/${opened.accountId}/close`)
        .send({ expectedVersion: 0 })
        .expect(201);
      expect(expectCommandResult(res.body, opened.accountId).version).toBe(1);
    });
  });

  describe('GET /accounts/:id', () => {
    it('answers the read model with every field of the contract', async () => {
      const ownerId = uniqueOwner();
      const opened = await open({ ownerId, initialDeposit: 42, currency: 'GBP' });
      const account = await readAccount(opened.accountId, opened.position);
      expect(account).toMatchObject({
        accountId: opened.accountId,
        ownerId,
        currency: 'GBP',
        balance: 42,
        status: 'open',
        version: 0,
      });
      expect(Date.parse(account.updatedAt as string)).toBeGreaterThanOrEqual(
        Date.parse(account.openedAt as string),
      );
    });

    it('reads its own writes with minPosition', async () => {
      const opened = await open();
      let last = opened;
      for (const amount of [1, 2, 3, 4, 5]) last = await deposit(opened.accountId, amount);
      const account = await readAccount(opened.accountId, last.position);
      expect(account).toMatchObject({ balance: 15, version: 5 });
    });

    it('keeps openedAt and moves updatedAt forward with later events', async () => {
      const opened = await open();
      const first = await readAccount(opened.accountId, opened.position);
      const deposited = await deposit(opened.accountId, 7);
      const second = await readAccount(opened.accountId, deposited.position);
      expect(second.openedAt).toBe(first.openedAt);
      expect(Date.parse(second.updatedAt as string)).toBeGreaterThanOrEqual(
        Date.parse(first.updatedAt as string),
      );
    });

    it('answers without minPosition too', async () => {
      const opened = await open();
      await readAccount(opened.accountId, opened.position);
      const res = await t.http.get(`/accounts/${opened.accountId}`).expect(200);
      expectAccountShape(res.body);
    });
  });

  describe('GET /accounts?ownerId=', () => {
    it("lists exactly the owner's accounts", async () => {
      const ownerId = uniqueOwner();
      const a = await open({ ownerId, initialDeposit: 1 });
      const b = await open({ ownerId, initialDeposit: 2, currency: 'EUR' });
      const other = await open({ initialDeposit: 3 });
      const res = await t.http
        .get(`/accounts?ownerId=${encodeURIComponent(ownerId)}&minPosition=${other.position}`)
        .expect(200);
      expect(Object.keys(res.body)).toEqual(['items']);
      const items = res.body.items as Record<string, unknown>[];
      items.forEach(expectAccountShape);
      expect(items.map((i) => i.accountId).sort()).toEqual([a.accountId, b.accountId].sort());
      expect(items.every((i) => i.ownerId === ownerId)).toBe(true);
      const byId = new Map(items.map((i) => [i.accountId, i]));
      expect(byId.get(a.accountId)).toMatchObject({ balance: 1, currency: 'USD' });
      expect(byId.get(b.accountId)).toMatchObject({ balance: 2, currency: 'EUR' });
    });

    it('answers an empty list for an owner without accounts', async () => {
      const opened = await open();
      const res = await t.http
        .get(`/accounts?ownerId=${uniqueOwner()}&minPosition=${opened.position}`)
        .expect(200);
      expect(res.body).toEqual({ items: [] });
    });

    it('shows the current state of each account', async () => {
      const ownerId = uniqueOwner();
      const opened = await open({ ownerId, initialDeposit: 100 });
      await withdraw(opened.accountId, 100);
      const closed = await closeAccount(opened.accountId);
      const res = await t.http
        .get(`/accounts?ownerId=${encodeURIComponent(ownerId)}&minPosition=${closed.position}`)
        .expect(200);
      expect(res.body.items).toHaveLength(1);
      expect(res.body.items[0]).toMatchObject({ status: 'closed', balance: 0, version: 2 });
    });
  });

  describe('GET /accounts/:id/transactions', () => {
    interface Line {
      version: number;
      type: string;
      amount: number;
      balanceAfter: number;
      occurredAt: string;
      transferId?: string;
    }

    function expectLineShape(line: Line): void {
      expect(Object.keys(line).sort()).toEqual([
        'amount',
        'balanceAfter',
        'occurredAt',
        'type',
        'version',
      ]);
      expectInteger(line.version);
      expectInteger(line.amount);
      expectInteger(line.balanceAfter);
      expect(['credit', 'debit']).toContain(line.type);
      expectIsoUtcMs(line.occurredAt);
    }

    async function page(
      id: string,
      minPosition: number,
      query = '',
    ): Promise<{ items: Line[]; next: number | null }> {
      const res = await t.http.get(
        `/accounts/${id}/transactions?minPosition=${minPosition}${query}`,
      );
      // on failure, shows the error body next to the status
      expect({ status: res.status, code: res.body.code }).toEqual({ status: 200 });
      expect(Object.keys(res.body).sort()).toEqual(['items', 'next']);
      (res.body.items as Line[]).forEach(expectLineShape);
      if (res.body.next !== null) expectInteger(res.body.next);
      return res.body;
    }

    it('shows the opening deposit as the credit of version 0, then every movement', async () => {
      const opened = await open({ initialDeposit: 1000 });
      await deposit(opened.accountId, 250);
      const last = await withdraw(opened.accountId, 400);
      const { items, next } = await page(opened.accountId, last.position);
      expect(next).toBeNull();
      expect(
        items.map(({ version, type, amount, balanceAfter }) => ({
          version,
          type,
          amount,
          balanceAfter,
        })),
      ).toEqual([
        { version: 0, type: 'credit', amount: 1000, balanceAfter: 1000 },
        { version: 1, type: 'credit', amount: 250, balanceAfter: 1250 },
        { version: 2, type: 'debit', amount: 400, balanceAfter: 850 },
      ]);
    });

    it('dates each line with the recordedAt of its event', async () => {
      const opened = await open({ initialDeposit: 5 });
      const last = await deposit(opened.accountId, 6);
      const { items } = await page(opened.accountId, last.position);
      const events = await auditTrail(opened.accountId);
      expect(items.map((l) => l.occurredAt)).toEqual(events.map((e) => e.recordedAt));
    });

    it('has no line for an opening deposit of 0', async () => {
      const opened = await open({ initialDeposit: 0 });
      const last = await deposit(opened.accountId, 30);
      const { items, next } = await page(opened.accountId, last.position);
      expect(next).toBeNull();
      expect(items).toHaveLength(1);
      expect(items[0]).toMatchObject({ version: 1, type: 'credit', amount: 30, balanceAfter: 30 });
    });

    it('answers an empty page for an account without movements', async () => {
      const opened = await open();
      const { items, next } = await page(opened.accountId, opened.position);
      expect(items).toEqual([]);
      expect(next).toBeNull();
    });

    it('pages with limit and after, next pointing at the following page', async () => {
      const opened = await open({ initialDeposit: 100 });
      let last = opened;
      for (let i = 1; i <= 5; i++) last = await deposit(opened.accountId, i);
      // 6 lines: versions 0..5
      const first = await page(opened.accountId, last.position, '&limit=2');
      expect(first.items.map((l) => l.version)).toEqual([0, 1]);
      expect(first.next).toBe(1);
      const second = await page(opened.accountId, last.position, `&limit=2&after=${first.next}`);
      expect(second.items.map((l) => l.version)).toEqual([2, 3]);
      expect(second.next).toBe(3);
      const third = await page(opened.accountId, last.position, `&limit=2&after=${second.next}`);
      expect(third.items.map((l) => l.version)).toEqual([4, 5]);
      expect(third.next).toBeNull();
      expect(third.items[1].balanceAfter).toBe(115);
    });

    it('walks every line exactly once by following next', async () => {
      const opened = await open({ initialDeposit: 10 });
      let last = opened;
      for (let i = 0; i < 6; i++) last = await withdraw(opened.accountId, 1);
      const seen: number[] = [];
      let after: number | null = null;
      do {
        const query: string = `&limit=4${after === null ? '' : `&after=${after}`}`;
        const p = await page(opened.accountId, last.position, query);
        seen.push(...p.items.map((l) => l.version));
        after = p.next;
      } while (after !== null);
      expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6]);
    });

    it('starts after the given version', async () => {
      const opened = await open({ initialDeposit: 10 });
      await deposit(opened.accountId, 1);
      const last = await deposit(opened.accountId, 2);
      const { items, next } = await page(opened.accountId, last.position, '&after=1');
      expect(items.map((l) => l.version)).toEqual([2]);
      expect(next).toBeNull();
    });

    it('answers an empty last page after the last version', async () => {
      const opened = await open({ initialDeposit: 10 });
      const { items, next } = await page(opened.accountId, opened.position, '&after=0');
      expect(items).toEqual([]);
      expect(next).toBeNull();
    });

    it('returns 50 lines by default and accepts a limit of 500', async () => {
      const opened = await open({ initialDeposit: 1 });
      let last = opened;
      for (let i = 0; i < 54; i++) last = await deposit(opened.accountId, 1);
      // 55 lines: versions 0..54
      const byDefault = await page(opened.accountId, last.position);
      expect(byDefault.items).toHaveLength(50);
      expect(byDefault.items[49].version).toBe(49);
      expect(byDefault.next).toBe(49);
      const rest = await page(opened.accountId, last.position, `&after=${byDefault.next}`);
      expect(rest.items.map((l) => l.version)).toEqual([50, 51, 52, 53, 54]);
      expect(rest.next).toBeNull();
      const all = await page(opened.accountId, last.position, '&limit=500');
      expect(all.items).toHaveLength(55);
      expect(all.items[54].balanceAfter).toBe(55);
      expect(all.next).toBeNull();
    });
  });

  describe('GET /accounts/:id/state', () => {
    function expectStateShape(body: Record<string, unknown>): void {
      expect(Object.keys(body).sort()).toEqual(['accountId', 'balance', 'status', 'version']);
      expectInteger(body.balance);
      expectInteger(body.version);
      expect(['open', 'closed']).toContain(body.status);
    }

    async function state(id: string, query = ''): Promise<Record<string, unknown>> {
      const res = await t.http.get(`/accounts/${id}/state${query}`).expect(200);
      expectStateShape(res.body);
      return res.body;
    }

    it('rebuilds the account as of each version', async () => {
      const opened = await open({ initialDeposit: 1000 });
      await deposit(opened.accountId, 500);
      await withdraw(opened.accountId, 1500);
      await closeAccount(opened.accountId);
      const id = opened.accountId;
      expect(await state(id, '?version=0')).toEqual({
        accountId: id,
        balance: 1000,
        status: 'open',
        version: 0,
      });
      expect(await state(id, '?version=1')).toEqual({
        accountId: id,
        balance: 1500,
        status: 'open',
        version: 1,
      });
      expect(await state(id, '?version=2')).toEqual({
        accountId: id,
        balance: 0,
        status: 'open',
        version: 2,
      });
      expect(await state(id, '?version=3')).toEqual({
        accountId: id,
        balance: 0,
        status: 'closed',
        version: 3,
      });
    });

    it('answers the current state without version or asOf', async () => {
      const opened = await open({ initialDeposit: 70 });
      await withdraw(opened.accountId, 20);
      expect(await state(opened.accountId)).toEqual({
        accountId: opened.accountId,
        balance: 50,
        status: 'open',
        version: 1,
      });
    });

    it('rebuilds the same state past a snapshot', async () => {
      const opened = await open();
      for (let i = 0; i < 55; i++) await deposit(opened.accountId, 2);
      expect(await state(opened.accountId, '?version=10')).toMatchObject({
        balance: 20,
        version: 10,
      });
      expect(await state(opened.accountId, '?version=50')).toMatchObject({
        balance: 100,
        version: 50,
      });
      expect(await state(opened.accountId, '?version=55')).toMatchObject({
        balance: 110,
        version: 55,
      });
      expect(await state(opened.accountId)).toMatchObject({ balance: 110, version: 55 });
    });

    it('answers 404 VERSION_NOT_FOUND for a version past the stream', async () => {
      const opened = await open({ initialDeposit: 10 });
      await deposit(opened.accountId, 1);
      const res = await t.http.get(`/accounts/${opened.accountId}/state?version=2`).expect(404);
      expect(Object.keys(res.body).sort()).toEqual(['code', 'message', 'statusCode']);
      expect(res.body).toMatchObject({ statusCode: 404, code: 'VERSION_NOT_FOUND' });
      expect(typeof res.body.message).toBe('string');
    });

    it('includes exactly the events recorded at or before asOf', async () => {
      const opened = await open({ initialDeposit: 100 });
      await deposit(opened.accountId, 10);
      await withdraw(opened.accountId, 30);
      await deposit(opened.accountId, 5);
      const events = await auditTrail(opened.accountId);
      expect(events).toHaveLength(4);
      for (const event of events) {
        const asOf = Date.parse(event.recordedAt);
        // several events may share a millisecond: asOf includes all of them
        const expectedVersion = Math.max(
          ...events.filter((e) => Date.parse(e.recordedAt) <= asOf).map((e) => e.version),
        );
        const byVersion = await state(opened.accountId, `?version=${expectedVersion}`);
        const byTime = await state(opened.accountId, `?asOf=${event.recordedAt}`);
        expect(byTime).toEqual(byVersion);
      }
    });

    it('includes every event for an instant after the last one', async () => {
      const opened = await open({ initialDeposit: 100 });
      await withdraw(opened.accountId, 1);
      const res = await state(opened.accountId, '?asOf=2999-01-01T00:00:00.000Z');
      expect(res).toEqual({ accountId: opened.accountId, balance: 99, status: 'open', version: 1 });
    });

    it('reads asOf given with another UTC offset as the same instant', async () => {
      const opened = await open({ initialDeposit: 100 });
      await withdraw(opened.accountId, 1);
      const events = await auditTrail(opened.accountId);
      const last = new Date(events[events.length - 1].recordedAt);
      // the same instant written in +01:00
      const shifted = new Date(last.getTime() + 60 * 60 * 1000)
        .toISOString()
        .replace('Z', '+01:00');
      const res = await state(opened.accountId, `?asOf=${encodeURIComponent(shifted)}`);
      expect(res).toMatchObject({ balance: 99, version: 1 });
    });

    it("reads asOf without an offset as UTC, whatever the server's time zone", async () => {
      const opened = await open({ initialDeposit: 100 });
      const [first] = await auditTrail(opened.accountId);
      // The suite runs in Tokyo (jest.config.js): read there, the time would be nine hours
      // before the opening.
      const local = first.recordedAt.replace('Z', '');
      expect(new Date(local).getTime()).toBeLessThan(Date.parse(first.recordedAt));
      const res = await state(opened.accountId, `?asOf=${local}`);
      expect(res).toMatchObject({ balance: 100, version: 0 });
      // A date alone is its start, in UTC: before the opening unless it opened at midnight.
      const day = first.recordedAt.slice(0, 10);
      const dayStart = await t.http.get(`/accounts/${opened.accountId}/state?asOf=${day}`);
      expect(dayStart.status).toBe(first.recordedAt.endsWith('T00:00:00.000Z') ? 200 : 404);
    });

    it('answers 404 ACCOUNT_NOT_FOUND for an instant before the opening', async () => {
      const opened = await open({ initialDeposit: 100 });
      const [first] = await auditTrail(opened.accountId);
      const before = new Date(Date.parse(first.recordedAt) - 1).toISOString();
      const res = await t.http
        .get(`/accounts/${opened.accountId}/state?asOf=${before}`)
        .expect(404);
      expect(res.body).toEqual({
        statusCode: 404,
        code: 'ACCOUNT_NOT_FOUND',
        message: expect.any(String),
      });
    });

    it('refuses version and asOf together with 400', async () => {
      const opened = await open({ initialDeposit: 100 });
      const res = await t.http
        .get(`/accounts/${opened.accountId}/state?version=0&asOf=2999-01-01T00:00:00.000Z`)
        .expect(400);
      expect(res.body).toEqual({
        statusCode: 400,
        code: 'VALIDATION_FAILED',
        message: expect.any(String),
      });
    });
  });

  describe('GET /accounts/:id/events', () => {
    it('lists every event of the stream in version order with the audit shape', async () => {
      const ownerId = uniqueOwner();
      const opened = await open({ ownerId, initialDeposit: 300, currency: 'EUR' });
      const deposited = await deposit(opened.accountId, 200);
      const withdrawn = await withdraw(opened.accountId, 500);
      const closed = await closeAccount(opened.accountId);
      const items = await auditTrail(opened.accountId);
      expect(items).toHaveLength(4);
      for (const item of items) {
        expect(Object.keys(item).sort()).toEqual([
          'data',
          'metadata',
          'position',
          'recordedAt',
          'schemaVersion',
          'type',
          'version',
        ]);
        expectInteger(item.version);
        expectInteger(item.position);
        expectInteger(item.schemaVersion);
        expectIsoUtcMs(item.recordedAt);
        expect(item.schemaVersion).toBe(2);
      }
      expect(items.map((i) => i.version)).toEqual([0, 1, 2, 3]);
      expect(items.map((i) => i.position)).toEqual([
        opened.position,
        deposited.position,
        withdrawn.position,
        closed.position,
      ]);
      expect(items.map((i) => i.type)).toEqual([
        'AccountOpened',
        'MoneyDeposited',
        'MoneyWithdrawn',
        'AccountClosed',
      ]);
      const id = opened.accountId;
      expect(items[0].data).toEqual({
        accountId: id,
        ownerId,
        currency: 'EUR',
        initialDeposit: 300,
      });
      expect(items[1].data).toEqual({ accountId: id, amount: 200 });
      expect(items[2].data).toEqual({ accountId: id, amount: 500 });
      expect(items[3].data).toEqual({ accountId: id });
      const times = items.map((i) => Date.parse(i.recordedAt));
      expect([...times].sort((a, b) => a - b)).toEqual(times);
    });

    it('stores the X-Correlation-Id of each request as metadata.correlationId', async () => {
      const openCorrelation = `open-${randomUUID()}`;
      const openRes = await t.http
        .post('/accounts')
        .set('X-Correlation-Id', openCorrelation)
        .send({ ownerId: uniqueOwner(), initialDeposit: 10 })
        .expect(201);
      expect(openRes.headers['x-correlation-id']).toBe(openCorrelation);
      const id = openRes.body.accountId as string;

      const depositCorrelation = `deposit-${randomUUID()}`;
      const depositRes = await t.http
        .post(`/accounts/${id}/deposits`)
        .set('X-Correlation-Id', depositCorrelation)
        .send({ amount: 5 })
        .expect(201);
      expect(depositRes.headers['x-correlation-id']).toBe(depositCorrelation);

      const items = await auditTrail(id);
      expect(items.map((i) => i.metadata.correlationId)).toEqual([
        openCorrelation,
        depositCorrelation,
      ]);
      for (const item of items) {
        expect(typeof item.metadata.causationId).toBe('string');
        expect(item.metadata.causationId).not.toBe('');
      }
      expect(items[0].metadata.causationId).not.toBe(items[1].metadata.causationId);
    });

    it('generates a correlation id when none is sent, echoes it and stores it', async () => {
      const res = await t.http.post('/accounts').send({ ownerId: uniqueOwner() }).expect(201);
      const generated = res.headers['x-correlation-id'];
      expect(typeof generated).toBe('string');
      expect(generated).not.toBe('');
      const [opened] = await auditTrail(res.body.accountId);
      expect(opened.metadata.correlationId).toBe(generated);
    });

    it('echoes X-Correlation-Id on reads', async () => {
      const opened = await open();
      const correlation = `read-${randomUUID()}`;
      const res = await t.http
        .get(`/accounts/${opened.accountId}/events`)
        .set('X-Correlation-Id', correlation)
        .expect(200);
      expect(res.headers['x-correlation-id']).toBe(correlation);
    });
  });

  describe('an id in capitals', () => {
    it('is the same account on every route, shown in lower case', async () => {
      const opened = await open({ initialDeposit: 100 });
      const upper = opened.accountId.toUpperCase();
      const res = await t.http.post(`/accounts/${upper}/deposits`).send({ amount: 5 }).expect(201);
      expectCommandResult(res.body, opened.accountId);
      await t.http.post(`/accounts/${upper}/withdrawals`).send({ amount: 1 }).expect(201);
      const min = `minPosition=${(await deposit(opened.accountId, 1)).position}`;
      const account = await t.http.get(`/accounts/${upper}?${min}`).expect(200);
      expect(account.body).toMatchObject({ accountId: opened.accountId, balance: 105 });
      const trail = await auditTrail(upper);
      expect(trail.map((e) => e.version)).toEqual([0, 1, 2, 3]);
      const state = await t.http.get(`/accounts/${upper}/state?version=1`).expect(200);
      expect(state.body).toMatchObject({ accountId: opened.accountId, balance: 105 });
    });
  });

  describe('read your own writes', () => {
    it('answers 503 STALE_READ_MODEL when minPosition is never reached', async () => {
      const opened = await open();
      const far = opened.position + 1_000_000;
      const responses = await Promise.all([
        t.http.get(`/accounts/${opened.accountId}?minPosition=${far}`),
        t.http.get(`/accounts?ownerId=someone&minPosition=${far}`),
        t.http.get(`/accounts/${opened.accountId}/transactions?minPosition=${far}`),
      ]);
      for (const res of responses) {
        expect(res.status).toBe(503);
        expect(res.body).toEqual({
          statusCode: 503,
          code: 'STALE_READ_MODEL',
          message: expect.any(String),
        });
        expect(res.headers['retry-after']).toBe('1');
      }
    }, 15_000);
  });

  describe('GET /health', () => {
    it('answers 200 while the database answers', async () => {
      await t.http.get('/health').expect(200);
    });
  });

  describe('OpenAPI', () => {
    it('serves the UI at /docs', async () => {
      const res = await t.http.get('/docs').expect(200);
      expect(res.headers['content-type']).toMatch(/html/);
    });

    it('serves the document at /docs-json with the accounts paths', async () => {
      const res = await t.http.get('/docs-json').expect(200);
      expect(res.body.paths).toHaveProperty(['/accounts']);
      expect(res.body.paths).toHaveProperty(['/accounts/{id}']);
      expect(res.body.paths).toHaveProperty(['/accounts/{id}/deposits']);
      expect(res.body.paths).toHaveProperty(['/accounts/{id}/withdrawals']);
      expect(res.body.paths).toHaveProperty(['/accounts/{id}/close']);
    });
  });
});
