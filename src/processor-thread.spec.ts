import { describe, expect, it } from '@jest/globals';
import type { Worker } from 'node:worker_threads';
import { ProcessorThread } from './processor-thread.js';

/** A worker script given as a data: URL (plain JavaScript: a worker has no TypeScript loader). */
function script(code: string): URL {
  return new URL(
    `data:text/javascript,${encodeURIComponent(`import { parentPort } from 'node:worker_threads';\n${code}`)}`,
  );
}

const config = { databaseUrl: 'postgres://unused', snapshotEvery: 50 };

describe('ProcessorThread', () => {
  it("fails to start with the worker's error, and reports no crash", async () => {
    const crashes: number[] = [];
    const thread = new ProcessorThread(script(`throw new Error('no database here');`));
    await expect(thread.start(config, (code) => crashes.push(code))).rejects.toThrow(
      'no database here',
    );
    expect(crashes).toEqual([]);
  });

  it('reports a worker that ends unasked after its start as a crash, with its exit code', async () => {
    const crashes: number[] = [];
    const thread = new ProcessorThread(
      script(`
        parentPort.postMessage('ready');
        parentPort.on('message', (m) => { if (m === 'crash') process.exit(3); });
      `),
    );
    await thread.start(config, (code) => crashes.push(code));
    // Only once its start is done (an exit racing its 'ready' would fail the start instead).
    (thread as unknown as { worker: Worker }).worker.postMessage('crash');
    for (let i = 0; i < 250 && crashes.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(crashes).toEqual([3]);
  });

  it('stops a worker that ends when asked, with no crash', async () => {
    const crashes: number[] = [];
    const thread = new ProcessorThread(
      script(`
        parentPort.postMessage('ready');
        const alive = setInterval(() => undefined, 1000);
        parentPort.on('message', (m) => { if (m === 'stop') { clearInterval(alive); parentPort.close(); } });
      `),
    );
    await thread.start(config, (code) => crashes.push(code));
    await thread.stop(5_000);
    expect(crashes).toEqual([]);
  });

  it('terminates a worker still closing after the time given, with no crash', async () => {
    const crashes: number[] = [];
    const thread = new ProcessorThread(
      script(`parentPort.postMessage('ready'); setInterval(() => undefined, 1000);`),
    );
    await thread.start(config, (code) => crashes.push(code));
    const started = performance.now();
    await thread.stop(200);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(crashes).toEqual([]);
  });
});
