/**
 * PROCESSOR_THREAD: with `worker`, `npm start` runs the processors in a worker thread. The
 * compiled app as a child process, where that thread really starts, serves the read models and
 * the saga, reports their status and stops with the process; `main` (the default) alike.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestDatabase } from '../support/database.js';
import {
  call,
  cleanUpAppProcesses,
  prepareAppBuild,
  startAppProcess,
  type AppProcess,
} from '../support/process.js';

const pause = (ms: number) => new Promise((done) => setTimeout(done, ms));

describe.each(['worker', 'main'])('PROCESSOR_THREAD=%s', (thread) => {
  let app: AppProcess;

  beforeAll(async () => {
    await prepareAppBuild();
    app = await startAppProcess({
      databaseUrl: await createTestDatabase(),
      // The worker thread's pool takes at most 10 of them.
      env: { PROCESSOR_THREAD: thread, LOG_LEVEL: 'log', DATABASE_POOL_SIZE: '12' },
    });
  }, 600_000);

  afterAll(() => cleanUpAppProcesses(), 30_000);

  it(`runs the processors ${thread === 'worker' ? 'in a worker thread' : 'in the main thread'}`, () => {
    expect(app.output().includes('processors running in a worker thread')).toBe(
      thread === 'worker',
    );
  });

  it('reports every projection running', async () => {
    const { status, body } = await call(app.baseUrl, 'GET', '/projections');
    expect(status).toBe(200);
    expect(body.items.map((p: { status: string }) => p.status)).toEqual([
      'running',
      'running',
      'running',
      'running',
    ]);
  });

  it('applies deposits to the read models and completes a transfer', async () => {
    const open = (initialDeposit: number) =>
      call(app.baseUrl, 'POST', '/accounts', { body: { ownerId: 'thread', initialDeposit } });
    const [from, to] = [(await open(100)).body, (await open(0)).body];
    const transfer = await call(app.baseUrl, 'POST', '/transfers', {
      body: { fromAccountId: from.accountId, toAccountId: to.accountId, amount: 30 },
    });
    expect(transfer.status).toBe(202);
    let state: string | undefined;
    for (let i = 0; i < 200 && state !== 'completed'; i++) {
      await pause(50);
      state = (await call(app.baseUrl, 'GET', `/transfers/${transfer.body.transferId}`)).body
        ?.status;
    }
    expect(state).toBe('completed');
    // The saga's credit is another projection's event: its summary may show it a moment later.
    let read = await call(app.baseUrl, 'GET', `/accounts/${to.accountId}`);
    for (let i = 0; i < 100 && read.body?.version !== 1; i++) {
      await pause(50);
      read = await call(app.baseUrl, 'GET', `/accounts/${to.accountId}`);
    }
    expect(read.body).toMatchObject({ balance: 30, version: 1 });
  });

  it("shows the saga's commands in GET /metrics, from the thread that ran them", async () => {
    const { status, body } = await call(app.baseUrl, 'GET', '/metrics');
    expect(status).toBe(200);
    const text = body as string;
    const sagaSteps = text
      .split('\n')
      .filter((line) => /^tally_commands_total\{.*origin="saga"/.test(line));
    // The debit and the credit of the transfer above.
    expect(sagaSteps.map((line) => /command="(\w+)"/.exec(line)![1]).sort()).toEqual([
      'DepositMoneyCommand',
      'WithdrawMoneyCommand',
    ]);
    const requests = text
      .split('\n')
      .filter((line) => /^tally_commands_total\{.*origin="request"/.test(line));
    expect(requests.length).toBeGreaterThan(0);
    if (thread === 'worker') {
      expect(sagaSteps.every((line) => line.includes('thread="processors"'))).toBe(true);
      expect(requests.some((line) => line.includes('thread='))).toBe(false);
      expect(text).toMatch(/^tally_processor_thread_up 1$/m);
      // The worker's own event loop and pool, beside the main thread's.
      expect(text).toMatch(/^tally_nodejs_eventloop_lag_seconds\{thread="processors"\} /m);
      expect(text).toMatch(/^tally_nodejs_eventloop_lag_seconds /m);
      expect(text).toMatch(/^tally_db_pool_connections\{state="total",thread="processors"\} /m);
      expect(text).toMatch(/^tally_db_pool_max_connections\{thread="processors"\} 10$/m);
      // What both threads would read alike is there once.
      expect(text.match(/^tally_events_appended /gm)).toHaveLength(1);
      expect(text).toMatch(/^tally_db_pool_max_connections 12$/m);
      expect(text.match(/^tally_process_start_time_seconds /gm)).toHaveLength(1);
      expect(text).not.toMatch(/^tally_projection_position\{.*thread=/m);
    } else {
      expect(text).not.toContain('thread=');
      expect(text).not.toContain('tally_processor_thread_up');
      expect(text).toMatch(/^tally_db_pool_max_connections 12$/m);
    }
  });

  it('stops with the process on SIGTERM, exit code 0', async () => {
    app.child.kill('SIGTERM');
    // Well before the worker's 8 s limit: it closes by itself.
    expect(await app.waitForExit(5_000)).toEqual({ code: 0, signal: null });
    expect(app.output()).not.toMatch(/"level":(40|50)/);
  });
});
