import { Logger, type INestApplication } from '@nestjs/common';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { createApp } from './app.js';
import type { AppModuleConfig } from './app.module.js';

/** The worker's DataSource pool: its batches, their reads of the log and the saga's commands. */
export const PROCESSOR_POOL_SIZE = 10;

/** What the worker is started with (see processor-worker.ts). */
export interface ProcessorWorkerData {
  config: AppModuleConfig;
  peer: MessagePort;
  /** The worker's end of the metrics link (`metricsPeer`). */
  metricsPeer: MessagePort;
}

/** The worker's entry, beside this file: compiled (`.js`), or run from source by a loader (`.ts`). */
const ENTRY = new URL(
  `./processor-worker.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`,
  import.meta.url,
);

/**
 * The processors (projections and saga) in a worker thread of this process
 * (`PROCESSOR_THREAD=worker`): an event loop of their own, so their batches do not wait behind
 * the HTTP requests. The main thread's app runs with `runProcessors: false`, `port` as its
 * `peer` and `metricsPort` as its `metricsPeer`; the worker's has its processors on and no HTTP
 * server.
 */
export class ProcessorThread {
  private readonly logger = new Logger('ProcessorThread');
  /** The main thread's end of the link: the option `peer` of its event-sourcing module. */
  readonly port: MessagePort;
  private readonly workerPort: MessagePort;
  /** The main thread's end of the metrics link: its app's option `metricsPeer`. */
  readonly metricsPort: MessagePort;
  private readonly workerMetricsPort: MessagePort;
  private worker?: Worker;
  private exited?: Promise<number>;
  private stopping = false;

  /** `entry`: the worker's script; another only in tests of this class. */
  constructor(private readonly entry: URL = ENTRY) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.workerPort = port2;
    const metrics = new MessageChannel();
    this.metricsPort = metrics.port1;
    this.workerMetricsPort = metrics.port2;
  }

  /**
   * Starts the worker and resolves once its processors run. `onCrash`: it ended without being
   * asked to (the process should stop: its events would no longer be processed here).
   * @throws what the worker's start threw
   */
  async start(config: AppModuleConfig, onCrash: (code: number) => void): Promise<void> {
    const data: ProcessorWorkerData = {
      config,
      peer: this.workerPort,
      metricsPeer: this.workerMetricsPort,
    };
    const worker = new Worker(this.entry, {
      workerData: data,
      transferList: [this.workerPort, this.workerMetricsPort],
    });
    this.worker = worker;
    let failure: unknown;
    worker.on('error', (error) => {
      failure = error;
      this.logger.error(`processor thread failed: ${String(error)}`);
    });
    this.exited = new Promise((resolve) => worker.once('exit', resolve));
    const ready = new Promise<void>((resolve) =>
      worker.once('message', (message) => message === 'ready' && resolve()),
    );
    const code = await Promise.race([ready.then(() => undefined), this.exited]);
    if (code !== undefined) {
      // What the worker threw, as Node copied it over (under jest, no instance of the sandbox's Error).
      throw (failure as Error | undefined) ?? new Error(`processor thread exited (${code})`);
    }
    void this.exited.then((exitCode) => {
      if (!this.stopping) onCrash(exitCode);
    });
    this.logger.log('processors running in a worker thread');
  }

  /**
   * Lets the batches in flight commit, then ends the worker; terminates it after `timeoutMs`.
   * As in the main thread, where the processors stop before the HTTP server closes, this runs
   * beside the main thread's close: events appended meanwhile are processed at the next start.
   */
  async stop(timeoutMs = 8_000): Promise<void> {
    this.stopping = true;
    if (!this.worker || !this.exited) return;
    this.worker.postMessage('stop');
    const timer = setTimeout(() => {
      this.logger.warn(`processor thread still closing after ${timeoutMs} ms: terminating it`);
      void this.worker?.terminate();
    }, timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** The app and, with `processorThread: 'worker'`, its processor thread; `close` stops both at once. */
export interface AppWithProcessors {
  app: INestApplication;
  close(): Promise<void>;
}

/**
 * The app as `npm start` runs it (not listening yet): where it runs processors, in the thread
 * that serves HTTP (`main`) or in a {@link ProcessorThread} (`worker`). `config` must be
 * plain data with `worker` (it is copied to the thread). `onCrash`: see {@link ProcessorThread.start}.
 */
export async function createAppWithProcessors(
  config: AppModuleConfig,
  processorThread: 'worker' | 'main',
  onCrash: (code: number) => void,
): Promise<AppWithProcessors> {
  const runProcessors = config.eventSourcing?.runProcessors ?? config.runProcessors ?? true;
  if (!runProcessors || processorThread === 'main') {
    const app = await createApp(config);
    return { app, close: () => app.close() };
  }
  const thread = new ProcessorThread();
  const app = await createApp({
    ...config,
    runProcessors: false,
    eventSourcing: { ...config.eventSourcing, runProcessors: false, peer: thread.port },
    metricsPeer: thread.metricsPort,
  });
  // After the main thread's start has run the migrations.
  await thread.start(config, onCrash).catch(async (error: unknown) => {
    await app.close();
    throw error;
  });
  return {
    app,
    close: async () => {
      await Promise.all([app.close(), thread.stop()]);
    },
  };
}
