/**
 * The processor thread's entry (see processor-thread.ts): the app's module as an application
 * context, without HTTP, with its processors on and linked to the main thread's by `peer` (and
 * its metrics by `metricsPeer`).
 * Posts `ready` once they run; closes on the message `stop`.
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { parentPort, workerData } from 'node:worker_threads';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module.js';
import { PROCESSOR_POOL_SIZE, type ProcessorWorkerData } from './processor-thread.js';

const { config, peer, metricsPeer } = workerData as ProcessorWorkerData;
const app = await NestFactory.createApplicationContext(
  AppModule.forRoot({
    ...config,
    // Batches, their reads of the log and the saga's commands: no HTTP requests to serve.
    poolSize: Math.min(PROCESSOR_POOL_SIZE, config.poolSize ?? PROCESSOR_POOL_SIZE),
    runProcessors: true,
    eventSourcing: { ...config.eventSourcing, runProcessors: true, peer },
    metricsPeer,
  }),
  { bufferLogs: true, abortOnError: false },
);
app.useLogger(app.get(Logger));
await app.init();
parentPort!.on('message', (message) => {
  if (message !== 'stop') return;
  void app.close().finally(() => parentPort!.close());
});
parentPort!.postMessage('ready');
