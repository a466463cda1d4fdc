import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
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
});
