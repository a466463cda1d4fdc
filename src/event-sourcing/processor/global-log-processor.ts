import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type BeforeApplicationShutdown,
} from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { DataSource } from 'typeorm';
import {
  ProjectionNotFoundError,
  ProjectionNotRebuildableError,
  StaleReadModelError,
} from '../errors.js';
import { EventRegistry, type EventClass } from '../event-registry.js';
import { EventStore, toCheckpoint } from '../event-store.js';
import { EVENT_SOURCING_OPTIONS, type ResolvedEventSourcingOptions } from '../options.js';
import {
  PROJECTION_METADATA,
  type ProjectionHandler,
  type ProjectionOptions,
} from '../projection.js';
import { LogListener } from './log-listener.js';
import { SharedLogReader } from './shared-log-reader.js';
import {
  ProjectionRunner,
  type ProjectionDefinition,
  type ProjectionStatus,
} from './projection-runner.js';
import { eventStoreTables } from '../tables.js';

/** @nestjs/cqrs keeps this key internal; it is where `@EventsHandler(...)` stores its event classes. */
const EVENTS_HANDLER_METADATA = '__eventsHandler__';

export interface ParkedEvent {
  position: number;
  error: string;
  attempts: number;
  parkedAt: Date;
}

export interface ProjectionInfo {
  name: string;
  kind: 'read-model' | 'saga';
  /** Global position of the last event applied. */
  position: number;
  /** Committed events not applied yet. */
  lag: number;
  /** In this process: `stopped` when processors do not run here. */
  status: ProjectionStatus;
  /** The last error of a failing projection. */
  error?: string;
  parked?: ParkedEvent[];
}

/**
 * A thread that runs processors posts `alive` to its peer this often, so that the peer can tell a
 * thread whose event loop is stuck (a handler that loops without awaiting) from one with nothing
 * to post: after PEER_SILENT_AFTER_MS without a message, it shows its projections failing.
 */
const PEER_ALIVE_EVERY_MS = 1_000;
const PEER_SILENT_AFTER_MS = 5_000;

/** What crosses the `peer` port (option `peer`), in both directions. */
type PeerMessage =
  | { kind: 'alive' }
  | { kind: 'appended'; position: number }
  | { kind: 'wake' }
  | { kind: 'listener'; backendPid: number }
  | { kind: 'advanced' }
  | { kind: 'status'; name: string; status: ProjectionStatus; error?: string };

/**
 * Finds every `@Projection` + `@EventsHandler` provider, keeps a checkpoint per projection and runs
 * one {@link ProjectionRunner} each, woken by LISTEN/NOTIFY with a slow poll as fallback.
 */
@Injectable()
export class GlobalLogProcessor implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('GlobalLogProcessor');
  private readonly runners = new Map<string, ProjectionRunner>();
  private readonly waiters = new Set<() => void>();
  private readonly listener: LogListener;
  private readonly reader: SharedLogReader;
  private stopWatchingAppends?: () => void;
  /** The status of each projection as the peer thread's runner last posted it (option `peer`). */
  private readonly peerStatus = new Map<string, { status: ProjectionStatus; error?: string }>();
  /** What this thread last posted to the peer, by projection: posts only what changed. */
  private readonly posted = new Map<string, string>();
  /** When the peer thread last posted anything (`performance.now()`; see PEER_ALIVE_EVERY_MS). */
  private peerHeardAt = 0;
  private aliveTimer?: NodeJS.Timeout;
  private readonly sql: Record<'register' | 'checkpoints' | 'parked' | 'processed', string>;

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly dataSource: DataSource,
    private readonly store: EventStore,
    private readonly registry: EventRegistry,
    @Inject(EVENT_SOURCING_OPTIONS) private readonly options: ResolvedEventSourcingOptions,
  ) {
    this.listener = new LogListener(
      dataSource,
      () => this.wakeAll(),
      (backendPid) => this.toPeer({ kind: 'listener', backendPid }),
      options.runProcessors,
    );
    this.reader = new SharedLogReader(store);
    const t = eventStoreTables(options.schema);
    this.sql = {
      register: `INSERT INTO ${t.checkpoints} (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING`,
      checkpoints: `SELECT name, transaction_id::text AS "transactionId", global_position AS "position"
       FROM ${t.checkpoints} WHERE name = ANY($1::text[]) ORDER BY name`,
      parked: `SELECT projection, global_position::int8 AS position, error, attempts, parked_at AS "parkedAt"
       FROM ${t.parked} WHERE projection = ANY($1::text[]) ORDER BY global_position`,
      processed: `SELECT EXISTS (
         SELECT 1 FROM ${t.events} e JOIN ${t.checkpoints} c ON c.name = $1
         WHERE e.global_position = $2 AND (e.transaction_id, e.global_position) <= (c.transaction_id, c.global_position)
       ) AS done`,
    };
  }

  async onApplicationBootstrap(): Promise<void> {
    for (const definition of this.discover()) {
      const runner = new ProjectionRunner(
        definition,
        this.dataSource,
        this.store,
        this.reader,
        this.registry,
        this.options,
        () => {
          this.advanced();
          this.toPeer({ kind: 'advanced' });
        },
        () => this.postStatus(runner),
      );
      this.runners.set(definition.name, runner);
    }
    const names = [...this.runners.keys()];
    await this.dataSource.query(this.sql.register, [names]);
    this.options.peer
      ?.on('message', (message: PeerMessage) => this.fromPeer(message))
      // Gone: what it said of its runners no longer holds.
      .on('close', () => this.peerStatus.clear());
    if (this.options.peer && this.options.runProcessors) {
      this.aliveTimer = setInterval(() => this.toPeer({ kind: 'alive' }), PEER_ALIVE_EVERY_MS);
      this.aliveTimer.unref();
    }
    // Our own appends wake our processors at once, the peer thread's through the peer link (it
    // ignores our listener's NOTIFYs), and the other processes through NOTIFY: an instance that
    // runs no processor still tells those that do (else they would find its events only at their
    // next poll).
    await this.listener.start();
    this.stopWatchingAppends = this.store.onAppend((position) => {
      this.wakeAll(position);
      this.toPeer({ kind: 'appended', position });
      this.listener.notify();
    });
    if (!this.options.runProcessors) return;
    for (const runner of this.runners.values()) runner.start();
    this.logger.log(`processing the global log for ${names.join(', ') || 'no projections'}`);
  }

  /** Before the DataSource closes: let batches in flight commit, then stop. */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.aliveTimer);
    this.stopWatchingAppends?.();
    await this.listener.stop();
    await Promise.all([...this.runners.values()].map((r) => r.stop()));
    this.options.peer?.close();
  }

  /** The projections this process knows, with checkpoint position, lag and parked events. */
  async list(): Promise<ProjectionInfo[]> {
    const names = [...this.runners.keys()];
    const rows: { name: string; transactionId: string; position: string }[] =
      await this.dataSource.query(this.sql.checkpoints, [names]);
    const parked: (ParkedEvent & { projection: string })[] = await this.dataSource.query(
      this.sql.parked,
      [names],
    );
    return Promise.all(
      rows.map(async (row) => {
        const runner = this.runners.get(row.name)!;
        const checkpoint = toCheckpoint(row);
        const own = parked
          .filter((p) => p.projection === row.name)
          .map(({ position, error, attempts, parkedAt }) => ({
            position: Number(position),
            error,
            attempts,
            parkedAt,
          }));
        // Where the runner does not run here, its status is the peer thread's, if it has one: as
        // it last posted it, or failing if that thread has gone silent (its event loop is stuck).
        // A rebuild here shows, unless the peer's runner is failing (a stuck batch there holds
        // the lock the rebuild waits for). A runner of this thread shows its own.
        const peer = runner.running ? undefined : this.peerStatusOf(row.name);
        const shown =
          runner.isRebuilding && !runner.running && peer?.status !== 'failing'
            ? { status: 'rebuilding' as const, error: undefined }
            : (peer ?? { status: runner.status, error: runner.lastError });
        const { status, error } = shown;
        return {
          name: row.name,
          kind: runner.definition.kind,
          position: checkpoint.position,
          lag: await this.store.countAfter(checkpoint),
          status,
          ...(error ? { error } : {}),
          ...(own.length ? { parked: own } : {}),
        };
      }),
    );
  }

  /**
   * Empties a read model and replays the log into it; resolves once both have committed (one
   * transaction).
   * @throws ProjectionNotFoundError, ProjectionNotRebuildableError (sagas are never replayed)
   */
  async rebuild(name: string): Promise<void> {
    const runner = this.runner(name);
    if (runner.definition.kind === 'saga') throw new ProjectionNotRebuildableError(name);
    await runner.rebuild();
    // Its lock made the peer's runner skip the events that came meanwhile.
    this.toPeer({ kind: 'wake' });
  }

  /** Applies a projection's parked events again. @throws ProjectionNotFoundError */
  async retryParked(name: string): Promise<{ retried: number; failed: number }> {
    const result = await this.runner(name).retryParked();
    this.toPeer({ kind: 'wake' });
    return result;
  }

  private runner(name: string): ProjectionRunner {
    const runner = this.runners.get(name);
    if (!runner) throw new ProjectionNotFoundError(name);
    return runner;
  }

  /**
   * Resolves once `projection` has applied the event at global `position` (read-your-writes).
   * @throws StaleReadModelError after `timeoutMs` (default `readWaitTimeoutMs`).
   */
  async waitForPosition(
    projection: string,
    position: number,
    timeoutMs = this.options.readWaitTimeoutMs,
  ): Promise<void> {
    this.runner(projection);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await this.hasProcessed(projection, position)) return;
      const left = deadline - Date.now();
      if (left <= 0) throw new StaleReadModelError(projection, position);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, 50));
        this.waiters.add(done);
      });
    }
  }

  /** Whether `projection`'s checkpoint is at or past the event at global `position`. */
  async hasProcessed(projection: string, position: number): Promise<boolean> {
    const [row] = await this.dataSource.query(this.sql.processed, [projection, position]);
    return row.done === true;
  }

  /** `position`: of the append that wakes them, when it is this process's own. */
  private wakeAll(position?: number): void {
    for (const runner of this.runners.values()) runner.wake(position);
  }

  private advanced(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private toPeer(message: PeerMessage): void {
    this.options.peer?.postMessage(message);
  }

  /** The peer thread's status of a projection, failing once that thread has been silent long. */
  private peerStatusOf(name: string): { status: ProjectionStatus; error?: string } | undefined {
    const posted = this.peerStatus.get(name);
    const silentMs = performance.now() - this.peerHeardAt;
    if (!posted || silentMs <= PEER_SILENT_AFTER_MS) return posted;
    return {
      status: 'failing',
      error: `the processor thread has posted nothing for ${Math.floor(silentMs / 1000)} s: its event loop may be blocked`,
    };
  }

  private fromPeer(message: PeerMessage): void {
    this.peerHeardAt = performance.now();
    if (message.kind === 'alive') return;
    if (message.kind === 'appended') this.wakeAll(message.position);
    else if (message.kind === 'wake') this.wakeAll();
    else if (message.kind === 'listener') this.listener.ignoreSender(message.backendPid);
    else if (message.kind === 'advanced') this.advanced();
    else this.peerStatus.set(message.name, { status: message.status, error: message.error });
  }

  /** A runner of this thread changed status (or ran a batch): tell the peer, if that is news. */
  private postStatus(runner: ProjectionRunner): void {
    if (!this.options.peer) return;
    const { name, status, lastError: error } = runner;
    const key = `${status}\n${error ?? ''}`;
    if (this.posted.get(name) === key) return;
    this.posted.set(name, key);
    this.toPeer({ kind: 'status', name, status, error });
  }

  private discover(): ProjectionDefinition[] {
    const definitions = new Map<string, ProjectionDefinition>();
    for (const wrapper of this.discovery.getProviders()) {
      const { metatype, instance } = wrapper;
      if (!metatype || !instance) continue;
      const options = Reflect.getMetadata(PROJECTION_METADATA, metatype) as
        ProjectionOptions | undefined;
      if (!options) continue;
      const events = (Reflect.getMetadata(EVENTS_HANDLER_METADATA, metatype) ?? []) as EventClass[];
      const definition = definitions.get(options.name) ?? {
        name: options.name,
        kind: options.kind ?? 'read-model',
        tables: [],
        rebuildByStream: true,
        handlers: [],
      };
      definition.tables.push(...(options.tables ?? []));
      definition.rebuildByStream &&= options.rebuildByStream ?? false;
      definition.handlers.push({ instance: instance as ProjectionHandler, events });
      definitions.set(options.name, definition);
    }
    return [...definitions.values()];
  }
}
