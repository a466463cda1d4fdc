/**
 * Child process of workload 6: serves the real app (`tally`) or the minimal raw-INSERT endpoint
 * (`minimal`) on a loopback port, tells the parent the port, and stops on the message `stop`.
 * Its own process, so the load generator does not share the server's event loop.
 */
import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import { createAppWithProcessors } from '../../src/processor-thread.js';
import { POOL_SIZE } from '../lib/database.js';
import { MinimalModule } from './minimal.module.js';

/**
 * `tally`: the app as `npm start` runs it (processors in the thread that serves HTTP);
 * `tally-worker-thread`: with PROCESSOR_THREAD=worker, processors in a worker thread;
 * `tally-write-only`: with runProcessors false (no projection work in the process).
 */
export type ServerMode = 'tally' | 'tally-worker-thread' | 'tally-write-only' | 'minimal';

async function main(): Promise<void> {
  const mode = process.argv[2] as ServerMode;
  const url = process.env.BENCH_DATABASE_URL;
  if (!url || !process.send) throw new Error('started by bench/workloads/http.ts only');
  let app: INestApplication;
  let close = () => app.close();
  if (mode.startsWith('tally')) {
    const started = await createAppWithProcessors(
      {
        databaseUrl: url,
        poolSize: POOL_SIZE,
        snapshotEvery: 50,
        // No line per request (the default `log` level writes one to stdout).
        logLevel: 'warn',
        runProcessors: mode !== 'tally-write-only',
      },
      mode === 'tally-worker-thread' ? 'worker' : 'main',
      (code) => {
        console.error(`processor thread exited (${code})`);
        process.exit(1);
      },
    );
    app = started.app;
    close = started.close;
  } else if (mode === 'minimal') {
    app = await NestFactory.create(MinimalModule.forRoot(url, POOL_SIZE), {
      logger: ['error', 'warn'],
    });
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  process.on('message', (message) => {
    if (message !== 'stop') return;
    close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
  process.send({ port });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
