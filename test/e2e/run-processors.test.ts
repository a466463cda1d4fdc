import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { loadConfig } from '../../src/config/config.js';
import { GlobalLogProcessor } from '../../src/event-sourcing/index.js';
import { startTestApp, type TestApp } from '../support/app.js';

// RUN_PROCESSORS=false: an instance that serves commands and reads, while another runs the projections.
describe('an instance with RUN_PROCESSORS=false', () => {
  let web: TestApp;
  let worker: TestApp | undefined;

  beforeAll(async () => {
    const { runProcessors } = loadConfig({ RUN_PROCESSORS: 'false' });
    web = await startTestApp({ runProcessors, eventSourcing: { readWaitTimeoutMs: 300 } });
  });
  afterAll(async () => {
    await worker?.close();
    await web?.close();
  });

  it('takes commands but applies no event; an instance with processors catches up', async () => {
    const { body } = await web.http
      .post('/accounts')
      .send({ ownerId: 'split', initialDeposit: 70 })
      .expect(201);
    const projections = await web.app.get(GlobalLogProcessor).list();
    expect(projections.map((p) => p.status)).toEqual(projections.map(() => 'stopped'));
    const summary = projections.find((p) => p.name === 'account-summary')!;
    expect(summary.lag).toBeGreaterThan(0);
    // The read waits for the write of this process, in vain: no processor runs here.
    await web.http.get(`/accounts/${body.accountId}?minPosition=${body.position}`).expect(503);

    worker = await startTestApp({ databaseUrl: web.databaseUrl });
    await worker.app.get(GlobalLogProcessor).waitForPosition('account-summary', body.position);
    const read = await web.http.get(`/accounts/${body.accountId}`).expect(200);
    expect(read.body).toMatchObject({ accountId: body.accountId, balance: 70 });
  });

  it("wakes the processing instance at once: its events do not wait for that instance's poll", async () => {
    await worker?.close();
    // A poll too slow to be what brings the event in.
    worker = await startTestApp({
      databaseUrl: web.databaseUrl,
      eventSourcing: { pollIntervalMs: 60_000 },
    });
    const processor = worker.app.get(GlobalLogProcessor);
    // Its runners catch up on the earlier events, find nothing more and go idle.
    const [{ position }] = await web.app
      .get(DataSource)
      .query(`SELECT max(global_position)::int AS position FROM events`);
    await processor.waitForPosition('account-summary', position, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const { body } = await web.http
      .post('/accounts')
      .send({ ownerId: 'split', initialDeposit: 5 })
      .expect(201);
    // Throws StaleReadModelError after 10 s: the poll would take up to 60.
    await processor.waitForPosition('account-summary', body.position, 10_000);
  });
});
