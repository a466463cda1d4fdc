/**
 * SIGKILL while deposits carrying an Idempotency-Key are in flight: after a restart, a client that
 * retries each unanswered one with the same key and body gets it done exactly once, and a repeat
 * of an answered one replays the first answer (CONTRACT §3, Idempotency).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestDatabase } from '../support/database.js';
import {
  accountEvents,
  call,
  checkAccount,
  cleanUpAppProcesses,
  openAccounts,
  prepareAppBuild,
  runPool,
  startAppProcess,
  type AppProcess,
  type ExitStatus,
  type HttpResult,
  type StoredAccountEvent,
} from '../support/process.js';

const ACCOUNTS = 20;
const DEPOSITS = 400;
const IN_FLIGHT = 20;
const KILL_AFTER_ACKS = 100;
/** A claim left by a killed process may be taken over after 30 s: retry for longer than that. */
const RETRY_FOR_MS = 60_000;

interface Deposit {
  key: string;
  accountId: string;
  amount: number;
  /** The first 201 body. */
  acked?: { accountId: string; version: number; position: number };
  /** unsent; acked; unknown (the connection died with the app); or what went wrong. */
  outcome: 'unsent' | 'acked' | 'unknown' | string;
}

/** JSON with sorted keys: the same body whatever the order of its fields. */
const sorted = (value: object | undefined) =>
  JSON.stringify(value, Object.keys(value ?? {}).sort());
const pause = (ms: number) => new Promise((done) => setTimeout(done, ms));

describe('SIGKILL during deposits with an Idempotency-Key', () => {
  let databaseUrl: string;

  beforeAll(async () => {
    await prepareAppBuild();
    databaseUrl = await createTestDatabase();
  }, 600_000);

  afterAll(() => cleanUpAppProcesses(), 30_000);

  it('does each retried deposit exactly once and replays the answered ones', async () => {
    const first: AppProcess = await startAppProcess({ databaseUrl });
    const accounts = await openAccounts(first.baseUrl, ACCOUNTS);
    const deposits: Deposit[] = Array.from({ length: DEPOSITS }, (_, i) => ({
      key: `crash-deposit-${i}`,
      accountId: accounts[i % ACCOUNTS],
      amount: i + 1,
      outcome: 'unsent',
    }));
    const post = (app: AppProcess, d: Deposit): Promise<HttpResult> =>
      call(app.baseUrl, 'POST', `/accounts/${d.accountId}/deposits`, {
        body: { amount: d.amount },
        headers: { 'Idempotency-Key': d.key },
      });

    let acks = 0;
    let killed: Promise<ExitStatus> | undefined;
    await runPool(
      deposits,
      IN_FLIGHT,
      async (d) => {
        try {
          const res = await post(first, d);
          if (res.status === 201) {
            d.outcome = 'acked';
            d.acked = res.body;
          } else {
            d.outcome = `answered ${res.status} ${JSON.stringify(res.body)}`;
          }
        } catch (error) {
          d.outcome = killed ? 'unknown' : `network error before the kill: ${error}`;
        }
        if (d.outcome === 'acked' && ++acks >= KILL_AFTER_ACKS && !killed) killed = first.kill();
      },
      () => killed !== undefined,
    );
    expect((await killed)?.signal).toBe('SIGKILL');
    const unknownAtKill = deposits.filter((d) => d.outcome === 'unknown').length;

    // A new process; the client retries every deposit it has no answer for, with the same key.
    const second = await startAppProcess({ databaseUrl });
    const retried = deposits.filter((d) => d.outcome === 'unsent' || d.outcome === 'unknown');
    const deadline = Date.now() + RETRY_FOR_MS;
    await runPool(retried, IN_FLIGHT, async (d) => {
      for (let attempt = 1; ; attempt++) {
        const res = await post(second, d).catch((error) => ({ status: 0, body: String(error) }));
        if (res.status === 201) {
          d.outcome = 'acked';
          d.acked = res.body;
          return;
        }
        const inProgress = res.status === 409 && res.body?.code === 'IDEMPOTENCY_KEY_IN_PROGRESS';
        if (!inProgress || Date.now() > deadline) {
          d.outcome = `retry ${attempt} answered ${res.status} ${JSON.stringify(res.body)}`;
          return;
        }
        await pause(Math.min(100 * attempt, 1_000));
      }
    });
    const wrong = deposits.filter((d) => d.outcome !== 'acked');
    expect(wrong.map((d) => `${d.key}: ${d.outcome}`)).toEqual([]);

    // A repeat of an answered deposit replays the first answer and changes nothing.
    const replays: string[] = [];
    await runPool(
      deposits.filter((_, i) => i % 4 === 0),
      IN_FLIGHT,
      async (d) => {
        const res = await post(second, d);
        if (res.status !== 201 || sorted(res.body) !== sorted(d.acked)) {
          replays.push(
            `${d.key}: ${res.status} ${JSON.stringify(res.body)} after ${JSON.stringify(d.acked)}`,
          );
        }
      },
    );
    expect(replays).toEqual([]);

    // The event store: each deposit exactly once, at the version its answer gave.
    const problems: string[] = [];
    const streams = new Map<string, StoredAccountEvent[]>();
    await runPool(accounts, 10, async (id) => {
      streams.set(id, await accountEvents(second.baseUrl, id));
    });
    let maxPosition = 0;
    for (const id of accounts) {
      const events = streams.get(id) ?? [];
      const mine = deposits.filter((d) => d.accountId === id);
      for (const e of events) maxPosition = Math.max(maxPosition, e.position);
      const amounts = events.slice(1).map((e) => `${e.type} ${e.data.amount}`);
      const expected = mine.map((d) => `MoneyDeposited ${d.amount}`);
      if (JSON.stringify([...amounts].sort()) !== JSON.stringify([...expected].sort())) {
        problems.push(`${id}: stored ${amounts.length} deposits for ${expected.length} requests`);
      }
      for (const d of mine) {
        const stored = events.find((e) => e.version === d.acked?.version);
        if (stored?.type !== 'MoneyDeposited' || stored.data.amount !== d.amount) {
          problems.push(`${d.key}: answered v${d.acked?.version}, found ${JSON.stringify(stored)}`);
        }
      }
    }
    await runPool(accounts, 10, async (id) => {
      problems.push(
        ...(await checkAccount(second.baseUrl, id, streams.get(id) ?? [], maxPosition)),
      );
    });
    if (process.env.CRASH_VERBOSE) {
      console.info(
        `idempotency: ${unknownAtKill} cut off at the kill, ${retried.length} retried after the restart`,
      );
    }
    expect({ problems: problems.slice(0, 30), count: problems.length }).toEqual({
      problems: [],
      count: 0,
    });
  }, 120_000);
});
