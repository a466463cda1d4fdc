import {
  Inject,
  Injectable,
  Optional,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { CommandBus, type ICommand } from '@nestjs/cqrs';
import type { MessagePort } from 'node:worker_threads';
import {
  AggregatorRegistry,
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
  type MetricObjectWithValues,
  type MetricValue,
} from 'prom-client';
import { DataSource } from 'typeorm';
import {
  DomainError,
  EventStore,
  GlobalLogProcessor,
  type CommandMetadata,
} from '../event-sourcing/index.js';

type WithMetadata = { metadata?: CommandMetadata; options?: { metadata?: CommandMetadata } };

/** `saga` for a step a saga issued (caused by an event), `request` otherwise. */
function originOf(command: ICommand): 'saga' | 'request' {
  const metadata =
    (command as WithMetadata).metadata ?? (command as WithMetadata).options?.metadata;
  return metadata?.causationId && metadata.causationId !== metadata.commandId ? 'saga' : 'request';
}

/**
 * A port to the MetricsService of the processor thread (`PROCESSOR_THREAD=worker`): GET /metrics
 * in the main thread shows that thread's metrics too, labelled `thread="processors"`.
 */
export const METRICS_PEER = Symbol('METRICS_PEER');

type Metrics = MetricObjectWithValues<MetricValue<string>>[];

/** A gauge's value as a scrape reads it, in the shape of `getMetricsAsJSON`. */
function gauge(name: string, help: string, values: MetricValue<string>[]) {
  return { name, help, type: 'gauge', values };
}

/** What crosses the {@link METRICS_PEER} port, in both directions. */
type MetricsMessage =
  { kind: 'ask'; id: number } | { kind: 'answer'; id: number; metrics: Metrics };

/**
 * What the peer thread leaves out of its answer: the process's own (CPU, memory, file
 * descriptors, start time), which both threads share. The `tally_nodejs_*` ones are each
 * thread's own, and go. (The gauges read from the database are not in the registry: see
 * {@link MetricsService.databaseMetrics}.)
 */
const NOT_ANSWERED = /^tally_process_/;

/** How long a scrape waits for the peer thread's metrics. */
const PEER_TIMEOUT_MS = 1_000;
/** How long a scrape waits for the database's gauges (as GET /health waits for its ping). */
const DATABASE_TIMEOUT_MS = 1_000;

/** Prometheus metrics of this process, served by GET /metrics. */
@Injectable()
export class MetricsService implements OnModuleInit, OnApplicationShutdown {
  readonly registry = new Registry();

  private readonly commands = new Counter({
    name: 'tally_commands_total',
    help: 'Commands executed, by type, origin (request, or saga for steps caused by an event) and outcome (ok or the error code)',
    labelNames: ['command', 'origin', 'outcome'],
    registers: [this.registry],
  });

  private readonly commandSeconds = new Histogram({
    name: 'tally_command_duration_seconds',
    help: 'Command latency, by type',
    labelNames: ['command'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  private readonly asked = new Map<number, (metrics: Metrics | undefined) => void>();
  private lastAsk = 0;
  /** The log's head, for `tally_events_appended`. */
  private readonly headSql: string;
  /** The link is closed (the processor thread ended): scrapes no longer ask. */
  private peerGone = false;

  constructor(
    private readonly commandBus: CommandBus,
    private readonly processor: GlobalLogProcessor,
    private readonly dataSource: DataSource,
    store: EventStore,
    @Optional() @Inject(METRICS_PEER) private readonly peer?: MessagePort,
  ) {
    collectDefaultMetrics({ register: this.registry, prefix: 'tally_' });
    this.gauges();
    this.headSql = `SELECT coalesce(max(global_position), 0) AS p FROM ${store.tables.events}`;
  }

  /**
   * The text GET /metrics serves: this thread's metrics, the gauges read from the database (left
   * out, with `tally_database_up 0`, when it cannot be read: the rest is served), and with a
   * peer thread that thread's own ones (see {@link NOT_ANSWERED}), each of its series labelled
   * `thread="processors"`.
   */
  async scrape(): Promise<string> {
    const [ours, database, theirs] = await Promise.all([
      this.registry.getMetricsAsJSON(),
      this.databaseMetrics(),
      this.peer ? this.askPeer() : undefined,
    ]);
    const all: object[] = [...ours, ...database];
    if (this.peer) {
      all.push(
        // This scrape's own (a gauge of the registry would be shared by scrapes running at once).
        gauge(
          'tally_processor_thread_up',
          '1 when the processor thread answered this scrape (its series are labelled thread, processors)',
          [{ value: theirs ? 1 : 0, labels: {} }],
        ),
        ...(theirs ?? []).map((metric) => ({
          ...metric,
          values: metric.values.map((v) => ({
            ...v,
            labels: { ...v.labels, thread: 'processors' },
          })),
        })),
      );
    }
    // The label keeps their series apart from ours: no two values are summed. (Some default
    // metrics have another aggregator, 'omit' for one, which would drop them.)
    return AggregatorRegistry.aggregate([
      all.map((metric) => ({ ...metric, aggregator: 'sum' })),
    ]).metrics();
  }

  /**
   * The gauges read from the database at each scrape: the log's head, each projection's
   * position, lag and parked events; only `tally_database_up 0` if it cannot be read within a
   * second (a scrape in an outage still shows the pool and the event loop).
   */
  private async databaseMetrics(): Promise<object[]> {
    const up = (value: number) =>
      gauge('tally_database_up', '1 when this scrape could read the database', [
        { value, labels: {} },
      ]);
    let timer: NodeJS.Timeout | undefined;
    try {
      const [[head], projections] = await Promise.race([
        Promise.all([
          this.dataSource.query(this.headSql) as Promise<{ p: string }[]>,
          this.processor.list(),
        ]),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('no answer')), DATABASE_TIMEOUT_MS);
        }),
      ]);
      const byProjection = (value: (p: (typeof projections)[number]) => number) =>
        projections.map((p) => ({ value: value(p), labels: { projection: p.name } }));
      return [
        up(1),
        gauge(
          'tally_events_appended',
          'Global position of the last event appended (events in the store)',
          [{ value: Number(head.p), labels: {} }],
        ),
        gauge(
          'tally_projection_position',
          'Last global position applied',
          byProjection((p) => p.position),
        ),
        gauge(
          'tally_projection_lag',
          'Committed events not applied yet',
          byProjection((p) => p.lag),
        ),
        gauge(
          'tally_projection_parked_events',
          'Events parked by a projection',
          byProjection((p) => p.parked?.length ?? 0),
        ),
      ];
    } catch {
      return [up(0)];
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Times every command that goes through the CommandBus (HTTP and saga steps alike); answers
   * the peer thread's asks.
   */
  onModuleInit(): void {
    const execute = this.commandBus.execute.bind(this.commandBus);
    this.commandBus.execute = (async (command: ICommand) => {
      const name = command.constructor.name;
      const labels = { command: name, origin: originOf(command) };
      const stop = this.commandSeconds.startTimer({ command: name });
      try {
        const result = await execute(command as never);
        this.commands.inc({ ...labels, outcome: 'ok' });
        return result;
      } catch (error) {
        this.commands.inc({
          ...labels,
          outcome: error instanceof DomainError ? error.code : 'error',
        });
        throw error;
      } finally {
        stop();
      }
    }) as CommandBus['execute'];
    this.peer
      ?.on('message', (message: MetricsMessage) => void this.fromPeer(message))
      .on('close', () => {
        this.peerGone = true;
        for (const id of [...this.asked.keys()]) this.answer(id, undefined);
      });
  }

  onApplicationShutdown(): void {
    this.peer?.close();
  }

  /** The peer thread's metrics, or undefined when it does not answer within a second. */
  private askPeer(): Promise<Metrics | undefined> {
    if (this.peerGone) return Promise.resolve(undefined);
    const id = ++this.lastAsk;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.answer(id, undefined), PEER_TIMEOUT_MS);
      this.asked.set(id, (metrics) => {
        clearTimeout(timer);
        resolve(metrics);
      });
      this.peer!.postMessage({ kind: 'ask', id } satisfies MetricsMessage);
    });
  }

  private async fromPeer(message: MetricsMessage): Promise<void> {
    if (message.kind === 'answer') return this.answer(message.id, message.metrics);
    const collected = await Promise.all(
      this.registry
        .getMetricsAsArray()
        .filter(({ name }) => !NOT_ANSWERED.test(name))
        // A metric whose collect fails is left out: the rest still goes.
        .map(({ name }) =>
          this.registry
            .getSingleMetric(name)!
            .get()
            .catch(() => undefined),
        ),
    );
    const metrics = collected.filter((metric) => metric !== undefined) as Metrics;
    this.peer!.postMessage({ kind: 'answer', id: message.id, metrics } satisfies MetricsMessage);
  }

  private answer(id: number, metrics: Metrics | undefined): void {
    this.asked.get(id)?.(metrics);
    this.asked.delete(id);
  }

  /** The pool's connections, read when scraped. */
  private gauges(): void {
    const registers = [this.registry];
    const pool = () =>
      (
        this.dataSource.driver as unknown as {
          master?: {
            totalCount: number;
            idleCount: number;
            waitingCount: number;
            options: { max: number };
          };
        }
      ).master;
    new Gauge({
      name: 'tally_db_pool_connections',
      help: 'Database pool connections by state',
      labelNames: ['state'],
      registers,
      collect() {
        const p = pool();
        if (!p) return;
        this.set({ state: 'total' }, p.totalCount);
        this.set({ state: 'idle' }, p.idleCount);
        this.set({ state: 'waiting' }, p.waitingCount);
      },
    });
    new Gauge({
      name: 'tally_db_pool_max_connections',
      help: 'The most connections the database pool opens',
      registers,
      collect() {
        const p = pool();
        if (p) this.set(p.options.max);
      },
    });
  }
}
