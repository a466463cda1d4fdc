import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { MessageChannel } from 'node:worker_threads';
import { GlobalLogProcessor } from '../../src/event-sourcing/index.js';
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

  beforeAll(async () => {
    web = await startTestApp({ eventSourcing: { runProcessors: false, peer: port1 } });
    processors = await startTestApp({
      databaseUrl: web.databaseUrl,
      eventSourcing: { runProcessors: true, peer: port2 },
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
  });
});
