import { Injectable, type OnModuleInit } from '@nestjs/common';
import { CommandBus, type ICommand } from '@nestjs/cqrs';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
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

/** Prometheus metrics of this process, served by GET /metrics. */
@Injectable()
export class MetricsService implements OnModuleInit {
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

  constructor(
    private readonly commandBus: CommandBus,
    private readonly processor: GlobalLogProcessor,
    private readonly dataSource: DataSource,
    private readonly store: EventStore,
  ) {
    collectDefaultMetrics({ register: this.registry, prefix: 'tally_' });
    this.gauges();
  }

  /** Times every command that goes through the CommandBus (HTTP and saga steps alike). */
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
  }

  /** Gauges read when scraped: the log head, each projection's position, lag and parked events, the pool. */
  private gauges(): void {
    const registers = [this.registry];
    const dataSource = this.dataSource;
    const head = `SELECT coalesce(max(global_position), 0) AS p FROM ${this.store.tables.events}`;
    new Gauge({
      name: 'tally_events_appended',
      help: 'Global position of the last event appended (events in the store)',
      registers,
      async collect() {
        const [row] = await dataSource.query(head);
        this.set(Number(row.p));
      },
    });
    const processor = this.processor;
    const position = new Gauge({
      name: 'tally_projection_position',
      help: 'Last global position applied',
      labelNames: ['projection'],
      registers,
    });
    const lag = new Gauge({
      name: 'tally_projection_lag',
      help: 'Committed events not applied yet',
      labelNames: ['projection'],
      registers,
    });
    new Gauge({
      name: 'tally_projection_parked_events',
      help: 'Events parked by a projection',
      labelNames: ['projection'],
      registers,
      async collect() {
        for (const p of await processor.list()) {
          this.set({ projection: p.name }, p.parked?.length ?? 0);
          position.set({ projection: p.name }, p.position);
          lag.set({ projection: p.name }, p.lag);
        }
      },
    });
    const pool = () =>
      (
        this.dataSource.driver as unknown as {
          master?: { totalCount: number; idleCount: number; waitingCount: number };
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
  }
}
