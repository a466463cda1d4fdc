import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { MessageChannel } from 'node:worker_threads';
import { CommandBus } from '@nestjs/cqrs';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { AccountSummaryProjection } from '../../src/accounts/account-summary/account-summary.projection.js';
import { EventStore, GlobalLogProcessor } from '../../src/event-sourcing/index.js';
import { MetricsService } from '../../src/observability/metrics.service.js';
import { ProjectionRunner } from '../../src/event-sourcing/processor/projection-runner.js';
import { startTestApp, type TestApp } from '../support/app.js';

/**
 * The option `peer`: the processors in another thread of the process (a worker thread in
 * `npm start`), here two apps in one thread linked by a MessageChannel, as the worker's would be.
 */
describe('an app whose processors run in a peer thread', () => {
  let web: TestApp;
  let processors: TestApp | undefined;
  const { port1, port2 } = new MessageChannel();
  const metricsLink = new MessageChannel();

  beforeAll(async () => {
    web = await startTestApp({
      eventSourcing: { runProcessors: false, peer: port1 },
      metricsPeer: metricsLink.port1,
    });
    processors = await startTestApp({
      databaseUrl: web.databaseUrl,
      // Short, for the stuck batch below; long beside any other batch here.
      eventSourcing: { runProcessors: true, peer: port2, batchStuckAfterMs: 3_000 },
      metricsPeer: metricsLink.port2,
    });
  });
  afterAll(async () => {
    await processors?.close();
    await web?.close();
  });

  const runnersOf = (app: TestApp) =>
    new Set(
      (
        app.app.get(GlobalLogProcessor) as unknown as { runners: Map<string, ProjectionRunner> }
      ).runners.values(),
    );

  it("shows the peer's status of each projection in GET /projections", async () => {
    const { body } = await web.http.get('/projections').expect(200);
    expect(body.items.map((p: { status: string }) => p.status)).toEqual([
      'running',
      'running',
      'running',
      'running',
    ]);
  });

  it('wakes the peer with the position of its append, and is woken by its progress', async () => {
    const wake = jest.spyOn(ProjectionRunner.prototype, 'wake');
    const webProcessor = web.app.get(GlobalLogProcessor);
    const advanced = jest.spyOn(webProcessor as unknown as { advanced(): void }, 'advanced');
    try {
      const { body } = await web.http
        .post('/accounts')
        .send({ ownerId: 'peer', initialDeposit: 70 })
        .expect(201);
      const read = await web.http.get(`/accounts/${body.accountId}?minPosition=${body.position}`);
      expect(read.status).toBe(200);
      expect(read.body.balance).toBe(70);
      // Its runners do not run here: only the peer's progress calls this in this app.
      expect(advanced).toHaveBeenCalled();
      const peerRunners = runnersOf(processors!);
      const woken = wake.mock.calls.filter((_, i) =>
        peerRunners.has(wake.mock.contexts[i] as ProjectionRunner),
      );
      expect(woken.map(([position]) => position)).toContain(body.position);
      // The NOTIFY of that append, which comes within milliseconds, does not wake them again
      // (without a position): they ignore the web thread's listener.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const positionless = wake.mock.calls.filter(
        ([position], i) =>
          position === undefined && peerRunners.has(wake.mock.contexts[i] as ProjectionRunner),
      );
      expect(positionless).toEqual([]);
    } finally {
      wake.mockRestore();
      advanced.mockRestore();
    }
  });

  it('rebuilds a read model from the thread without processors while the peer runs', async () => {
    const { body } = await web.http
      .post('/accounts')
      .send({ ownerId: 'peer', initialDeposit: 5 })
      .expect(201);
    const wake = jest.spyOn(ProjectionRunner.prototype, 'wake');
    try {
      await web.http.post('/projections/account-summary/rebuild').expect(202);
      // The peer's runners skipped while the rebuild held the lock: it wakes them (no position:
      // not an append's wake).
      const peerRunners = runnersOf(processors!);
      const woken = wake.mock.calls.filter(
        ([position], i) =>
          position === undefined && peerRunners.has(wake.mock.contexts[i] as ProjectionRunner),
      );
      expect(woken).toHaveLength(peerRunners.size);
    } finally {
      wake.mockRestore();
    }
    const read = await web.http.get(`/accounts/${body.accountId}?minPosition=${body.position}`);
    expect(read.body.balance).toBe(5);
    const listed = await web.http.get('/projections').expect(200);
    const summary = listed.body.items.find((p: { name: string }) => p.name === 'account-summary');
    expect(summary).toMatchObject({ status: 'running', lag: 0 });
  });

  it("shows the peer's stuck batch failing while a rebuild here waits for it", async () => {
    let settle = () => undefined as void;
    const held = new Promise<void>((resolve) => (settle = resolve));
    const handleBatch = AccountSummaryProjection.prototype.handleBatch;
    const stuck = jest
      .spyOn(AccountSummaryProjection.prototype, 'handleBatch')
      .mockImplementation(async function (this: AccountSummaryProjection, ...args) {
        await held;
        return handleBatch.apply(this, args);
      });
    const summary = async () =>
      (await web.http.get('/projections').expect(200)).body.items.find(
        (p: { name: string }) => p.name === 'account-summary',
      );
    let rebuilt: Promise<unknown> | undefined;
    try {
      await web.http.post('/accounts').send({ ownerId: 'peer', initialDeposit: 3 }).expect(201);
      for (let i = 0; (await summary()).status !== 'failing'; i++) {
        if (i >= 100) throw new Error('the peer did not report its stuck batch in 10 s');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      rebuilt = web.http.post('/projections/account-summary/rebuild').then((res) => res.status);
      // Once the rebuild waits for the lock the stuck batch holds.
      const observer = new pg.Client({ connectionString: web.databaseUrl });
      await observer.connect();
      try {
        for (let i = 0; ; i++) {
          const { rows } = await observer.query(
            `SELECT count(*)::int AS n FROM pg_locks
              WHERE locktype = 'advisory' AND NOT granted
                AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
          );
          if (rows[0].n > 0) break;
          if (i >= 100) throw new Error('the rebuild did not wait for the lock in 5 s');
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      } finally {
        await observer.end();
      }
      expect(await summary()).toMatchObject({
        status: 'failing',
        error: expect.stringContaining('a batch has run for more than 3 s'),
      });
    } finally {
      settle();
      stuck.mockRestore();
    }
    expect(await rebuilt).toBe(202);
    for (let i = 0; (await summary()).status !== 'running'; i++) {
      if (i >= 100) throw new Error('the projection is not running again after 10 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  const metricLines = async (pattern: RegExp) =>
    ((await web.http.get('/metrics').expect(200)).text as string)
      .split('\n')
      .filter((line) => pattern.test(line));

  it("shows the peer's metrics in GET /metrics, labelled thread=processors", async () => {
    const open = async (initialDeposit: number) =>
      (await web.http.post('/accounts').send({ ownerId: 'peer', initialDeposit }).expect(201)).body;
    const [from, to] = [await open(40), await open(0)];
    const { body } = await web.http
      .post('/transfers')
      .send({ fromAccountId: from.accountId, toAccountId: to.accountId, amount: 15 })
      .expect(202);
    let status: string | undefined;
    for (let i = 0; i < 200 && status !== 'completed'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      status = (await web.http.get(`/transfers/${body.transferId}`)).body.status;
    }
    expect(status).toBe('completed');
    // The saga ran in the peer: its steps are counted there, and shown here with its label.
    const steps = await metricLines(/^tally_commands_total\{.*origin="saga"/);
    expect(steps.map((line) => /command="(\w+)"/.exec(line)![1]).sort()).toEqual([
      'DepositMoneyCommand',
      'WithdrawMoneyCommand',
    ]);
    expect(steps.every((line) => /thread="processors"\} 1$/.test(line))).toBe(true);
    // The requests' commands ran here: no label.
    const requests = await metricLines(/^tally_commands_total\{command="OpenAccountCommand"/);
    expect(requests).toEqual([
      expect.stringMatching(/^tally_commands_total\{[^}]*origin="request",outcome="ok"\} \d+$/),
    ]);
    expect(await metricLines(/^tally_processor_thread_up /)).toEqual([
      'tally_processor_thread_up 1',
    ]);
    // What the database says is read here only: not twice.
    expect(await metricLines(/^tally_projection_lag\{/)).toHaveLength(4);
    expect(await metricLines(/^tally_events_appended /)).toHaveLength(1);
    // Histograms keep their buckets, each thread its own.
    expect(
      await metricLines(
        /^tally_command_duration_seconds_count\{command="DepositMoneyCommand",thread="processors"\} 1$/,
      ),
    ).toHaveLength(1);
  });

  it('scrapes without the peer when it does not answer within a second', async () => {
    const silent = new MessageChannel();
    const metrics = new MetricsService(
      web.app.get(CommandBus),
      web.app.get(GlobalLogProcessor),
      web.app.get(DataSource),
      web.app.get(EventStore),
      silent.port1,
    );
    try {
      const text = await metrics.scrape();
      expect(text).toMatch(/^tally_processor_thread_up 0$/m);
      expect(text).toMatch(/^tally_nodejs_eventloop_lag_seconds /m);
      expect(text).not.toContain('thread=');
    } finally {
      silent.port1.close();
    }
  });

  it("shows the peer's projections failing once it has posted nothing for 5 s", async () => {
    const peer = processors!.app.get(GlobalLogProcessor) as unknown as {
      aliveTimer?: NodeJS.Timeout;
    };
    const statuses = async () =>
      (await web.http.get('/projections').expect(200)).body.items.map(
        (p: { status: string }) => p.status,
      );
    // Silence is measured on performance.now(): moved on here, it goes on running.
    const now = performance.now.bind(performance);
    let ahead = 6_000;
    const clock = jest.spyOn(performance, 'now').mockImplementation(() => now() + ahead);
    try {
      // Six seconds on, but it says it is alive every second: it is heard from.
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      expect(await statuses()).toEqual(['running', 'running', 'running', 'running']);
      // As when the peer's event loop is stuck: it posts nothing more, its link still open (what
      // it posted before reaches this thread first).
      clearInterval(peer.aliveTimer);
      await new Promise((resolve) => setTimeout(resolve, 50));
      ahead = 12_000;
      expect(await statuses()).toEqual(['failing', 'failing', 'failing', 'failing']);
      const { body } = await web.http.get('/projections').expect(200);
      expect(body.items[0].error).toMatch(/^the processor thread has posted nothing for \d+ s:/);
    } finally {
      clock.mockRestore();
    }
  });

  it('shows the projections stopped once the link to the peer is gone', async () => {
    // As when a worker thread dies: its end of the link closes, and it posts nothing more.
    port2.close();
    const deadline = Date.now() + 5_000;
    let statuses: string[] = [];
    while (Date.now() < deadline) {
      const { body } = await web.http.get('/projections').expect(200);
      statuses = body.items.map((p: { status: string }) => p.status);
      if (statuses.every((s) => s === 'stopped')) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(statuses).toEqual(['stopped', 'stopped', 'stopped', 'stopped']);
    // And its metrics: gone, and said so.
    metricsLink.port2.close();
    let up: string[] = [];
    for (let i = 0; i < 250 && up[0] !== 'tally_processor_thread_up 0'; i++) {
      up = await metricLines(/^tally_processor_thread_up /);
    }
    expect(up).toEqual(['tally_processor_thread_up 0']);
    expect(await metricLines(/thread="processors"/)).toEqual([]);
  });
});
