/**
 * SIGKILL in the middle of 1,000 concurrent deposits: nothing acknowledged is lost, nothing is
 * stored twice, and after a restart the read models converge on the event store.
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
  type StoredAccountEvent,
} from '../support/process.js';

const ACCOUNTS = 50;
const DEPOSITS = 1_000;
const IN_FLIGHT = 20;
const KILL_AFTER_ACKS = 300;

interface Deposit {
  accountId: string;
  /** Unique over the run, so a stored event names the deposit it came from. */
  amount: number;
  /** unsent; acked (201); unknown (the connection died with the app); or what went wrong. */
  outcome: 'unsent' | 'acked' | 'unknown' | string;
  version?: number;
  position?: number;
}

describe('SIGKILL during 1,000 concurrent deposits', () => {
  let databaseUrl: string;

  beforeAll(async () => {
    await prepareAppBuild();
    databaseUrl = await createTestDatabase();
  }, 600_000);

  afterAll(() => cleanUpAppProcesses(), 30_000);

  it('keeps every acknowledged deposit once, and the read models converge after a restart', async () => {
    let app: AppProcess = await startAppProcess({ databaseUrl });
    const accounts = await openAccounts(app.baseUrl, ACCOUNTS);
    const deposits: Deposit[] = Array.from({ length: DEPOSITS }, (_, i) => ({
      accountId: accounts[i % ACCOUNTS],
      amount: i + 1,
      outcome: 'unsent',
    }));

    const send = async (target: AppProcess, deposit: Deposit, afterKill: () => boolean) => {
      try {
        const res = await call(target.baseUrl, 'POST', `/accounts/${deposit.accountId}/deposits`, {
          body: { amount: deposit.amount },
        });
        if (res.status === 201) {
          deposit.outcome = 'acked';
          deposit.version = res.body.version;
          deposit.position = res.body.position;
        } else {
          deposit.outcome = `answered ${res.status} ${JSON.stringify(res.body)}`;
        }
      } catch (error) {
        deposit.outcome = afterKill() ? 'unknown' : `network error before the kill: ${error}`;
      }
    };

    // Phase 1: 20 in flight; the 300th acknowledgement kills the app with SIGKILL.
    let acks = 0;
    let killed: Promise<ExitStatus> | undefined;
    const first = app;
    await runPool(
      deposits,
      IN_FLIGHT,
      async (deposit) => {
        await send(first, deposit, () => killed !== undefined);
        if (deposit.outcome === 'acked' && ++acks >= KILL_AFTER_ACKS && !killed) {
          killed = first.kill();
        }
      },
      () => killed !== undefined,
    );
    expect(killed).toBeDefined();
    expect((await killed)?.signal).toBe('SIGKILL');
    const atKill = {
      acked: deposits.filter((d) => d.outcome === 'acked').length,
      unknown: deposits.filter((d) => d.outcome === 'unknown').length,
    };

    // Phase 2: a new process on the same database takes the deposits never sent.
    app = await startAppProcess({ databaseUrl });
    const second = app;
    await runPool(
      deposits.filter((d) => d.outcome === 'unsent'),
      IN_FLIGHT,
      (deposit) => send(second, deposit, () => false),
    );
    const wrong = deposits.filter((d) => !['acked', 'unknown'].includes(d.outcome));
    expect(wrong.map((d) => `${d.accountId} ${d.amount}: ${d.outcome}`)).toEqual([]);

    // The event store: every acknowledged deposit at its version, nothing twice.
    const problems: string[] = [];
    const streams = new Map<string, StoredAccountEvent[]>();
    await runPool(accounts, 10, async (id) => {
      streams.set(id, await accountEvents(app.baseUrl, id));
    });
    let maxPosition = 0;
    for (const id of accounts) {
      const events = streams.get(id) ?? [];
      const sent = new Map(deposits.filter((d) => d.accountId === id).map((d) => [d.amount, d]));
      const seen = new Set<number>();
      for (const e of events) {
        maxPosition = Math.max(maxPosition, e.position);
        if (e.version === 0) continue;
        const amount = e.data.amount ?? -1;
        if (e.type !== 'MoneyDeposited' || !sent.has(amount)) {
          problems.push(`${id} v${e.version}: unexpected ${e.type} ${JSON.stringify(e.data)}`);
        } else if (seen.has(amount)) {
          problems.push(`${id} v${e.version}: deposit of ${amount} stored twice`);
        }
        seen.add(amount);
      }
      for (const d of sent.values()) {
        if (d.outcome !== 'acked') continue;
        const stored = events.find((e) => e.version === d.version);
        if (
          !stored ||
          stored.version !== d.version ||
          stored.type !== 'MoneyDeposited' ||
          stored.data.amount !== d.amount
        ) {
          problems.push(
            `${id}: acknowledged deposit of ${d.amount} at v${d.version} is missing (found ${JSON.stringify(stored)})`,
          );
        }
      }
    }
    // Every acknowledged position is in the log.
    const ackedPositions = deposits.filter((d) => d.outcome === 'acked').map((d) => d.position);
    maxPosition = Math.max(maxPosition, ...(ackedPositions as number[]));

    // The read models, read at the last position: the fold of each stream, one line per event.
    await runPool(accounts, 10, async (id) => {
      problems.push(...(await checkAccount(app.baseUrl, id, streams.get(id) ?? [], maxPosition)));
    });

    const storedDeposits = [...streams.values()].reduce((n, events) => n + events.length - 1, 0);
    if (process.env.CRASH_VERBOSE) {
      console.info(
        `deposits: ${atKill.acked} acknowledged and ${atKill.unknown} cut off at the kill; ${storedDeposits} stored`,
      );
    }
    expect({ problems: problems.slice(0, 30), count: problems.length }).toEqual({
      problems: [],
      count: 0,
    });
    expect(atKill.acked).toBeGreaterThanOrEqual(KILL_AFTER_ACKS);
    // Stored: every acknowledged one, plus some of those whose answer the kill cut off.
    expect(storedDeposits).toBeGreaterThanOrEqual(DEPOSITS - atKill.unknown);
    expect(storedDeposits).toBeLessThanOrEqual(DEPOSITS);
  }, 120_000);
});
