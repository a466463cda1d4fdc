/**
 * SIGKILL while 200 transfer sagas run among 10 accounts (five times, restarting in between):
 * afterwards every accepted transfer ends, money is neither created nor lost, no balance goes
 * negative and no step happens twice.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestDatabase } from '../support/database.js';
import {
  accountEvents,
  call,
  checkAccount,
  getOk,
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

const ACCOUNTS = 10;
const OPENING = 1_000;
const TRANSFERS = 200;
const IN_FLIGHT = 10;
/** SIGKILL when this many accepted transfers are seen ended (or when all are). */
const KILLS_AT_ENDED = [40, 70, 100, 130, 160];

interface Transfer {
  from: string;
  to: string;
  amount: number;
  /** unsent; accepted (202); unknown (the connection died with the app); or what went wrong. */
  outcome: 'unsent' | 'accepted' | 'unknown' | string;
  transferId?: string;
  /** The last GET /transfers/:id body. */
  view?: { status: string; reason?: string; fromAccountId: string; toAccountId: string };
}

const pause = (ms: number) => new Promise((done) => setTimeout(done, ms));
const finished = (t: Transfer) => t.view?.status === 'completed' || t.view?.status === 'failed';

/** Refreshes the views until every transfer has ended or the deadline has passed. */
async function waitForEnd(baseUrl: string, transfers: Transfer[], deadline: number) {
  for (let round = 0; round < 10_000; round++) {
    const open = transfers.filter((t) => !finished(t));
    if (open.length === 0 || Date.now() > deadline) return;
    await refresh(baseUrl, open);
    if (transfers.some((t) => !finished(t))) await pause(100);
  }
}

/** Reads the transfers' views (a few at a time); a network error or 404 leaves one unread. */
async function refresh(baseUrl: string, transfers: Transfer[]): Promise<void> {
  await runPool(transfers, 20, async (t) => {
    const res: HttpResult | undefined = await call(baseUrl, 'GET', `/transfers/${t.transferId}`, {
      timeoutMs: 10_000,
    }).catch(() => undefined);
    if (res?.status === 200) t.view = res.body;
  });
}

describe('SIGKILL while 200 transfers run', () => {
  let databaseUrl: string;

  beforeAll(async () => {
    await prepareAppBuild();
    databaseUrl = await createTestDatabase();
  }, 600_000);

  afterAll(() => cleanUpAppProcesses(), 30_000);

  it('ends every accepted transfer, conserves the total and applies no step twice', async () => {
    let app: AppProcess = await startAppProcess({ databaseUrl });
    const accounts = await openAccounts(app.baseUrl, ACCOUNTS, { initialDeposit: OPENING });
    const transfers: Transfer[] = Array.from({ length: TRANSFERS }, (_, i) => {
      const from = i % ACCOUNTS;
      const to = (from + 1 + ((i * 7) % (ACCOUNTS - 1))) % ACCOUNTS;
      // 100..499: enough for many to complete and many to fail for short funds.
      return {
        from: accounts[from],
        to: accounts[to],
        amount: 100 + ((i * 53) % 400),
        outcome: 'unsent',
      };
    });

    const send = async (target: AppProcess, t: Transfer, afterKill: () => boolean) => {
      try {
        const res = await call(target.baseUrl, 'POST', '/transfers', {
          body: { fromAccountId: t.from, toAccountId: t.to, amount: t.amount },
        });
        if (res.status === 202) {
          t.outcome = 'accepted';
          t.transferId = res.body.transferId;
        } else {
          t.outcome = `answered ${res.status} ${JSON.stringify(res.body)}`;
        }
      } catch (error) {
        t.outcome = afterKill() ? 'unknown' : `network error before the kill: ${error}`;
      }
    };

    // Post the transfers while watching the sagas; SIGKILL once 40 have ended, restart on the
    // same database, and again at 70, 100, 130 and 160 (or once all have ended): each restart
    // replays the saga batch the kill rolled back. Transfers a kill kept from being sent go to
    // the next process.
    let posting: Promise<void> | undefined;
    let postingDone = false;
    const kills: { accepted: number; ended: number }[] = [];
    for (const killAt of KILLS_AT_ENDED) {
      const current = app;
      let killed: Promise<ExitStatus> | undefined;
      const afterKill = () => killed !== undefined;
      if (!posting || postingDone) {
        posting = runPool(
          transfers.filter((t) => t.outcome === 'unsent'),
          IN_FLIGHT,
          (t) => send(current, t, afterKill),
          afterKill,
        );
        postingDone = false;
        void posting.finally(() => (postingDone = true));
      }
      const watchUntil = Date.now() + 20_000;
      for (let round = 0; round < 10_000 && !killed; round++) {
        const accepted = transfers.filter((t) => t.outcome === 'accepted');
        // The oldest unfinished ones first: the saga works through the log in order.
        await refresh(current.baseUrl, accepted.filter((t) => !finished(t)).slice(0, 20));
        const ended = accepted.filter(finished).length;
        if (
          ended >= killAt ||
          Date.now() > watchUntil ||
          (postingDone && ended === accepted.length)
        ) {
          killed = current.kill();
          kills.push({ accepted: accepted.length, ended });
        } else {
          await pause(20);
        }
      }
      await posting;
      expect((await killed)?.signal).toBe('SIGKILL');
      app = await startAppProcess({ databaseUrl });
    }

    // The last process takes whatever was never sent.
    const last = app;
    await runPool(
      transfers.filter((t) => t.outcome === 'unsent'),
      IN_FLIGHT,
      (t) => send(last, t, () => false),
    );
    const wrong = transfers.filter((t) => !['accepted', 'unknown'].includes(t.outcome));
    expect(wrong.map((t) => `${t.from} -> ${t.to} ${t.amount}: ${t.outcome}`)).toEqual([]);

    // Every accepted transfer ends (bounded: 60 s for all of them).
    const accepted = transfers.filter((t) => t.outcome === 'accepted');
    const deadline = Date.now() + 60_000;
    await waitForEnd(app.baseUrl, accepted, deadline);
    const stuck = accepted.filter((t) => !finished(t));
    expect(stuck.map((t) => `${t.transferId}: ${t.view ? t.view.status : 'not readable'}`)).toEqual(
      [],
    );
    const outcomes = accepted.map((t) =>
      t.view?.status === 'failed' ? `failed ${t.view.reason}` : t.view?.status,
    );
    expect(outcomes.filter((o) => o !== 'completed' && o !== 'failed INSUFFICIENT_FUNDS')).toEqual(
      [],
    );

    // No step twice: per transfer and account, the withdrawals and deposits carrying its id.
    // Transfers whose 202 the kill cut off may have moved money too: they are found in the
    // streams, and must end before the total adds up.
    const byId = new Map(accepted.map((t) => [t.transferId as string, t]));
    const readStreams = async () => {
      const streams = new Map<string, StoredAccountEvent[]>();
      await runPool(accounts, 10, async (id) => {
        streams.set(id, await accountEvents(app.baseUrl, id));
      });
      return streams;
    };
    const transferIds = (streams: Map<string, StoredAccountEvent[]>) =>
      new Set([...streams.values()].flat().map((e) => e.data.transferId));
    const others: Transfer[] = [...transferIds(await readStreams())]
      .filter((id): id is string => id !== undefined && !byId.has(id))
      .map((id) => ({ from: '', to: '', amount: 0, outcome: 'unknown', transferId: id }));
    await waitForEnd(app.baseUrl, others, deadline);
    const streams = await readStreams();
    const steps = new Map<string, Map<string, { withdrawn: number; deposited: number }>>();
    let maxPosition = 0;
    for (const [accountId, events] of streams) {
      for (const e of events) {
        maxPosition = Math.max(maxPosition, e.position);
        const transferId = e.data.transferId;
        if (!transferId) continue;
        const perAccount = steps.get(transferId) ?? new Map();
        steps.set(transferId, perAccount);
        const count = perAccount.get(accountId) ?? { withdrawn: 0, deposited: 0 };
        perAccount.set(accountId, count);
        if (e.type === 'MoneyWithdrawn') count.withdrawn++;
        if (e.type === 'MoneyDeposited') count.deposited++;
      }
    }
    for (const id of transferIds(streams)) {
      if (id && !byId.has(id) && !others.some((t) => t.transferId === id)) {
        others.push({ from: '', to: '', amount: 0, outcome: 'unknown', transferId: id });
      }
    }
    await refresh(
      app.baseUrl,
      others.filter((t) => !t.view),
    );
    const problems: string[] = [];
    for (const t of [...accepted, ...others]) {
      const id = t.transferId as string;
      const view = t.view;
      if (!view) {
        problems.push(`${id}: money moved but the transfer cannot be read`);
        continue;
      }
      const perAccount = steps.get(id) ?? new Map();
      const none = { withdrawn: 0, deposited: 0 };
      const source = perAccount.get(view.fromAccountId) ?? none;
      const target = perAccount.get(view.toAccountId) ?? none;
      const strangers = [...perAccount.keys()].filter(
        (a) => a !== view.fromAccountId && a !== view.toAccountId,
      );
      if (strangers.length > 0) problems.push(`${id}: events on other accounts ${strangers}`);
      if (source.withdrawn > 1) problems.push(`${id}: withdrawn ${source.withdrawn} times`);
      if (source.deposited > 1) problems.push(`${id}: refunded ${source.deposited} times`);
      if (target.deposited > 1) problems.push(`${id}: deposited ${target.deposited} times`);
      if (target.withdrawn > 0) problems.push(`${id}: withdrawn from the target`);
      if (view.status === 'completed') {
        if (source.withdrawn !== 1 || target.deposited !== 1 || source.deposited !== 0) {
          problems.push(
            `${id}: completed with source ${JSON.stringify(source)} target ${JSON.stringify(target)}`,
          );
        }
      } else if (view.status === 'failed') {
        if (target.deposited !== 0 || source.deposited !== source.withdrawn) {
          problems.push(
            `${id}: failed (${view.reason}) with source ${JSON.stringify(source)} target ${JSON.stringify(target)}`,
          );
        }
      } else {
        problems.push(`${id}: still ${view.status}`);
      }
    }

    // Balances from the event store: the total is conserved, none is negative.
    const balances = new Map<string, number>();
    await runPool(accounts, 10, async (id) => {
      balances.set(id, (await getOk(app.baseUrl, `/accounts/${id}/state`)).body.balance);
    });
    const total = [...balances.values()].reduce((sum, b) => sum + b, 0);
    if (total !== ACCOUNTS * OPENING)
      problems.unshift(`total balance ${total}, not ${ACCOUNTS * OPENING}`);
    for (const [id, balance] of balances) {
      if (balance < 0) problems.push(`${id}: negative balance ${balance}`);
    }

    // The read models converge on the streams.
    await runPool(accounts, 10, async (id) => {
      problems.push(...(await checkAccount(app.baseUrl, id, streams.get(id) ?? [], maxPosition)));
    });
    if (process.env.CRASH_VERBOSE) {
      console.info(
        `transfers: kills at (accepted, ended) ${kills.map((k) => `(${k.accepted}, ${k.ended})`).join(' ')}; ` +
          `${accepted.length} accepted in all, ${outcomes.filter((o) => o === 'completed').length} completed; ` +
          `${others.length} more found in the streams`,
      );
    }
    expect({ problems: problems.slice(0, 30), count: problems.length }).toEqual({
      problems: [],
      count: 0,
    });
  }, 120_000);
});
