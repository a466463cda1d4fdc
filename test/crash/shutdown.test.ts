/**
 * SIGTERM while deposits and transfers are in flight: the process finishes what it accepted and
 * exits 0 within 10 s, and everything it acknowledged is in the event store after a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestDatabase } from '../support/database.js';
import {
  accountEvents,
  call,
  checkAccount,
  cleanUpAppProcesses,
  getOk,
  openAccounts,
  prepareAppBuild,
  runPool,
  startAppProcess,
  type AppProcess,
  type ExitStatus,
  type StoredAccountEvent,
} from '../support/process.js';

const ACCOUNTS = 10;
const OPENING = 100_000;
const MAX_REQUESTS = 20_000;
const IN_FLIGHT = 16;
const SIGTERM_AFTER_ACKS = 200;
const EXIT_WITHIN_MS = 10_000;

interface Request {
  kind: 'deposit' | 'transfer';
  from: string;
  to?: string;
  /** Deposits: unique over the run, so a stored event names the request it came from. */
  amount: number;
  sentAfterSigterm?: boolean;
  /** HTTP status, or 'network' (no answer), or undefined (never sent). */
  status?: number | 'network';
  body?: { version?: number; position?: number; transferId?: string; code?: string };
}

const pause = (ms: number) => new Promise((done) => setTimeout(done, ms));

describe('SIGTERM while requests are in flight', () => {
  let databaseUrl: string;
  let requests: Request[];
  let accounts: string[];
  let exit: ExitStatus | undefined;
  let stopMs = 0;
  let app: AppProcess;

  beforeAll(async () => {
    await prepareAppBuild();
    databaseUrl = await createTestDatabase();
  }, 600_000);

  afterAll(() => cleanUpAppProcesses(), 30_000);

  it('exits with code 0 within 10 s', async () => {
    const first = await startAppProcess({ databaseUrl });
    accounts = await openAccounts(first.baseUrl, ACCOUNTS, { initialDeposit: OPENING });
    requests = Array.from({ length: MAX_REQUESTS }, (_, i) =>
      i % 8 === 7
        ? {
            kind: 'transfer',
            from: accounts[i % ACCOUNTS],
            to: accounts[(i + 3) % ACCOUNTS],
            amount: 1 + (i % 50),
          }
        : { kind: 'deposit', from: accounts[i % ACCOUNTS], amount: 1_000_000 + i },
    );

    let acks = 0;
    let sigterm: number | undefined;
    let next = 0;
    // Like clients behind a load balancer: each keeps sending, one request at a time, until the
    // app refuses one (no answer, or a 503), or it has exited, or 15 s after the SIGTERM.
    const client = async () => {
      while (
        next < requests.length &&
        !first.hasExited() &&
        (sigterm === undefined || Date.now() < sigterm + 15_000)
      ) {
        const r = requests[next++];
        r.sentAfterSigterm = sigterm !== undefined;
        try {
          const res =
            r.kind === 'deposit'
              ? await call(first.baseUrl, 'POST', `/accounts/${r.from}/deposits`, {
                  body: { amount: r.amount },
                })
              : await call(first.baseUrl, 'POST', '/transfers', {
                  body: { fromAccountId: r.from, toAccountId: r.to, amount: r.amount },
                });
          r.status = res.status;
          r.body = res.body;
        } catch {
          r.status = 'network';
        }
        if (r.status === 'network' || (sigterm !== undefined && r.status === 503)) return;
        if (typeof r.status === 'number' && r.status < 300 && ++acks === SIGTERM_AFTER_ACKS) {
          sigterm = Date.now();
          first.child.kill('SIGTERM');
        }
      }
    };
    const load = Promise.all(Array.from({ length: IN_FLIGHT }, client));

    // Wait for the SIGTERM (bounded), then for the exit.
    for (let i = 0; i < 600 && sigterm === undefined && !first.hasExited(); i++) await pause(50);
    expect(sigterm).toBeDefined();
    exit = await first.waitForExit(EXIT_WITHIN_MS);
    stopMs = Date.now() - (sigterm ?? 0);
    if (!exit) await first.kill();
    await load;
    if (!exit || exit.code !== 0) {
      // The child's own words say why it did not stop cleanly.
      console.error(`exit ${JSON.stringify(exit)}; output:\n${first.output().slice(-5_000)}`);
    }
    expect(exit).toEqual({ code: 0, signal: null });
  }, 120_000);

  it('answers every request sent before SIGTERM with a 2xx, or a 503 SHUTTING_DOWN to retry', () => {
    expect(requests).toBeDefined();
    // "Sent before" is the client's clock: such a request can still reach the server after the
    // shutdown began, and then gets the 503 that tells it to go elsewhere. Nothing else is allowed.
    const before = requests.filter((r) => r.status !== undefined && !r.sentAfterSigterm);
    const notOk = before.filter(
      (r) =>
        typeof r.status !== 'number' ||
        (r.status >= 300 &&
          !(r.status === 503 && (r.body as { code?: string })?.code === 'SHUTTING_DOWN')),
    );
    expect(
      notOk.map((r) => `${r.kind} ${r.amount}: ${r.status} ${JSON.stringify(r.body ?? '')}`),
    ).toEqual([]);
    // After the SIGTERM: a 2xx, a refusal (no answer, or 503) and nothing else.
    const after = requests.filter((r) => r.sentAfterSigterm);
    expect(
      after
        .filter((r) => typeof r.status === 'number' && r.status >= 300 && r.status !== 503)
        .map((r) => `${r.kind} ${r.amount}: ${r.status} ${JSON.stringify(r.body ?? '')}`),
    ).toEqual([]);
  });

  it('keeps every acknowledged request after a restart', async () => {
    expect(requests).toBeDefined();
    app = await startAppProcess({ databaseUrl });
    const problems: string[] = [];

    // Accepted transfers end (bounded).
    const transfers = requests.filter((r) => r.kind === 'transfer' && r.status === 202);
    const views = new Map<string, { status: string; reason?: string }>();
    const deadline = Date.now() + 60_000;
    for (let round = 0; round < 10_000; round++) {
      const open = transfers.filter((t) => {
        const status = views.get(t.body?.transferId ?? '')?.status;
        return status !== 'completed' && status !== 'failed';
      });
      if (open.length === 0 || Date.now() > deadline) break;
      await runPool(open, 20, async (t) => {
        const res = await call(app.baseUrl, 'GET', `/transfers/${t.body?.transferId}`).catch(
          () => undefined,
        );
        if (res?.status === 200) views.set(t.body?.transferId ?? '', res.body);
      });
      await pause(100);
    }
    for (const t of transfers) {
      const view = views.get(t.body?.transferId ?? '');
      if (view?.status !== 'completed') {
        problems.push(`transfer ${t.body?.transferId}: ${JSON.stringify(view ?? 'not readable')}`);
      }
    }

    // The streams: every acknowledged deposit at its version, none twice; every transfer step once.
    const streams = new Map<string, StoredAccountEvent[]>();
    await runPool(accounts, 10, async (id) => {
      streams.set(id, await accountEvents(app.baseUrl, id));
    });
    const deposits = new Map(
      requests.filter((r) => r.kind === 'deposit').map((r) => [`${r.from} ${r.amount}`, r]),
    );
    const seen = new Set<string>();
    const steps = new Map<string, string[]>();
    let maxPosition = 0;
    for (const [id, events] of streams) {
      for (const e of events) {
        maxPosition = Math.max(maxPosition, e.position);
        if (e.version === 0) continue;
        if (e.data.transferId) {
          steps.set(e.data.transferId, [
            ...(steps.get(e.data.transferId) ?? []),
            `${e.type}@${id}`,
          ]);
          continue;
        }
        const key = `${id} ${e.data.amount}`;
        if (e.type !== 'MoneyDeposited' || !deposits.has(key)) {
          problems.push(`${id} v${e.version}: unexpected ${e.type} ${JSON.stringify(e.data)}`);
        } else if (seen.has(key)) {
          problems.push(`${id} v${e.version}: deposit of ${e.data.amount} stored twice`);
        }
        seen.add(key);
      }
    }
    for (const r of deposits.values()) {
      if (r.status !== 201) continue;
      const stored = streams.get(r.from)?.find((e) => e.version === r.body?.version);
      if (stored?.type !== 'MoneyDeposited' || stored.data.amount !== r.amount) {
        problems.push(
          `${r.from}: acknowledged deposit of ${r.amount} at v${r.body?.version} is missing (found ${JSON.stringify(stored)})`,
        );
      }
    }
    for (const t of transfers) {
      const id = t.body?.transferId ?? '';
      const found = (steps.get(id) ?? []).sort();
      const expected = [`MoneyDeposited@${t.to}`, `MoneyWithdrawn@${t.from}`].sort();
      if (
        views.get(id)?.status === 'completed' &&
        JSON.stringify(found) !== JSON.stringify(expected)
      ) {
        problems.push(`transfer ${id}: completed with ${found.join(', ')}`);
      }
    }
    // Money is only created by opening deposits and plain deposits.
    const plain = [...streams.values()]
      .flat()
      .filter((e) => e.type === 'MoneyDeposited' && !e.data.transferId)
      .reduce((sum, e) => sum + (e.data.amount ?? 0), 0);
    let total = 0;
    for (const id of accounts) {
      total += (await getOk(app.baseUrl, `/accounts/${id}/state`)).body.balance;
    }
    if (total !== ACCOUNTS * OPENING + plain) {
      problems.unshift(`total balance ${total}, expected ${ACCOUNTS * OPENING + plain}`);
    }

    // The read models converge on the streams.
    await runPool(accounts, 10, async (id) => {
      problems.push(...(await checkAccount(app.baseUrl, id, streams.get(id) ?? [], maxPosition)));
    });

    if (process.env.CRASH_VERBOSE) {
      const count = (f: (r: Request) => boolean) => requests.filter(f).length;
      console.info(
        `shutdown: exit ${JSON.stringify(exit)} ${stopMs} ms after SIGTERM; before SIGTERM ${count((r) => r.status !== undefined && !r.sentAfterSigterm)} sent; ` +
          `after: ${count((r) => r.sentAfterSigterm === true && typeof r.status === 'number' && r.status < 300)} acknowledged, ` +
          `${count((r) => r.sentAfterSigterm === true && r.status === 'network')} unanswered; ${transfers.length} transfers accepted`,
      );
    }
    expect({ problems: problems.slice(0, 30), count: problems.length }).toEqual({
      problems: [],
      count: 0,
    });
  }, 120_000);
});
