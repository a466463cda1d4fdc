import { Logger } from '@nestjs/common';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import type { PostgresDataSourceOptions } from 'typeorm/driver/postgres/PostgresDataSourceOptions.js';

/** The channel appending processes NOTIFY (see {@link LogListener.notify}). */
export const EVENTS_CHANNEL = 'tally_events';
const LISTEN = `LISTEN ${EVENTS_CHANNEL}`;
const NOTIFY = `NOTIFY ${EVENTS_CHANNEL}`;
const NO_FLUSH_WAIT = `SET synchronous_commit = off`;
/**
 * The `application_name` of a listener whose process runs processors: the sessions a NOTIFY can
 * wake. A process that runs none only NOTIFYs ({@link NOTIFIER_NAME}).
 */
export const LISTENER_NAME = 'tally listener';
const NOTIFIER_NAME = 'tally notifier';
/** How long the answer to "does another process's listener wait for NOTIFYs?" is kept. */
export const OTHERS_KNOWN_FOR_MS = 1000;
/** NOTIFYs only if a listener of another process (a pid not in $1) is connected; says if one is. */
const NOTIFY_IF_OTHERS = `SELECT others, CASE WHEN others THEN pg_notify('${EVENTS_CHANNEL}', '')::text END AS sent
  FROM (SELECT EXISTS (
    SELECT 1 FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = '${LISTENER_NAME}' AND pid <> ALL($1::int[])
  ) AS others) AS s`;

/**
 * Holds one connection that LISTENs for appended events (from the other processes of the app) and
 * calls `onEvents`; the same connection NOTIFYs the others of this process's appends. It ignores
 * its own NOTIFYs, which PostgreSQL delivers back to it, and those of its peer thread's listener
 * ({@link ignoreSender}): this process's appends have woken its processors already, with their
 * positions (a wake without one opens a batch that often finds nothing). It NOTIFYs only while
 * another process's listener is connected ({@link LISTENER_NAME}), which it looks up at most once
 * a second: a lone instance sends none.
 * Reconnects after a failure; the processors' slow poll covers the time it is away.
 */
export class LogListener {
  private readonly logger = new Logger('LogListener');
  private client?: pg.Client;
  private closed = false;
  private retry?: NodeJS.Timeout;
  private notifyScheduled?: NodeJS.Immediate;
  /** The backend of the peer thread's listener (see {@link ignoreSender}). */
  private peerSender?: number;
  /** A NOTIFY is in flight; `notifyAgain`: appends came after it was sent. */
  private notifying = false;
  private notifyAgain = false;
  /** Whether another process's listener was connected when last looked up, and when that was. */
  private othersListen = false;
  private othersKnownAt = -Infinity;

  constructor(
    private readonly dataSource: DataSource,
    private readonly onEvents: () => void,
    /** With the backend process id of each connection it opens (the first and every reconnection). */
    private readonly onConnected: (backendPid: number) => void = () => undefined,
    /** This process runs processors: other processes' NOTIFYs are for it. */
    private readonly wakeable = true,
  ) {}

  /**
   * Ignores NOTIFYs from this backend too: the listener of the module's peer thread, whose appends
   * reach this one's processors through the peer link already, with their positions.
   */
  ignoreSender(backendPid: number): void {
    this.peerSender = backendPid;
  }

  async start(): Promise<void> {
    this.closed = false;
    const options = this.dataSource.options as PostgresDataSourceOptions;
    const client = new pg.Client({
      connectionString: options.url,
      host: options.host,
      port: options.port,
      user: options.username,
      password: typeof options.password === 'string' ? options.password : undefined,
      database: options.database,
      ssl: options.ssl as pg.ClientConfig['ssl'],
    });
    client.on('notification', (message) => {
      // The backend's process id (set on connect; not in pg's types).
      const own = (client as pg.Client & { processID: number | null }).processID;
      if (message.processId !== own && message.processId !== this.peerSender) this.onEvents();
    });
    client.on('error', (error) => this.reconnect(error));
    client.on('end', () => this.reconnect());
    try {
      await client.connect();
      await client.query(LISTEN);
      await client.query(NO_FLUSH_WAIT);
      await client.query(`SELECT set_config('application_name', $1, false)`, [
        this.wakeable ? LISTENER_NAME : NOTIFIER_NAME,
      ]);
      if (this.closed) throw new Error('stopped while connecting');
      this.client = client;
      this.othersKnownAt = -Infinity;
      this.onConnected((client as pg.Client & { processID: number }).processID);
      this.onEvents();
    } catch (error) {
      // Not this.client yet: close it here, or it would go on listening beside the next one.
      discard(client);
      this.reconnect(error as Error);
    }
  }

  /**
   * Tells every listening process that events were appended: outside the appending transaction (a
   * NOTIFY inside it would serialize the writers' commits), on the next turn of the event loop (so
   * the appends of one turn share it), and one at a time on the connection (appends while one is
   * in flight send another after it). Its commit does not wait for the WAL flush: a wake-up lost
   * in a crash is made up by the processors' poll. Sent only while another process's listener is
   * connected: the statement that looks it up NOTIFYs too, if so, and its answer holds for
   * {@link OTHERS_KNOWN_FOR_MS}. A process that starts listening meanwhile finds the events of that
   * second by its poll.
   */
  notify(): void {
    if (!this.client) return;
    if (this.notifying) this.notifyAgain = true;
    if (this.notifyScheduled || this.notifying) return;
    this.notifyScheduled = setImmediate(() => {
      this.notifyScheduled = undefined;
      const client = this.client;
      if (!client) return;
      const lookUp = performance.now() - this.othersKnownAt >= OTHERS_KNOWN_FOR_MS;
      if (!lookUp && !this.othersListen) return;
      this.notifying = true;
      const sent = lookUp
        ? client
            .query<{ others: boolean }>(NOTIFY_IF_OTHERS, [this.ownAndPeer(client)])
            .then(({ rows }) => {
              this.othersListen = rows[0].others;
              this.othersKnownAt = performance.now();
            })
        : client.query(NOTIFY);
      sent
        .catch(() => undefined)
        .finally(() => {
          this.notifying = false;
          if (!this.notifyAgain) return;
          this.notifyAgain = false;
          this.notify();
        });
    });
  }

  /** The listeners a NOTIFY of this process need not wake: its own, and its peer thread's. */
  private ownAndPeer(client: pg.Client): number[] {
    const own = (client as pg.Client & { processID: number }).processID;
    return this.peerSender === undefined ? [own] : [own, this.peerSender];
  }

  async stop(): Promise<void> {
    clearImmediate(this.notifyScheduled);
    this.notifyScheduled = undefined;
    this.closed = true;
    clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private reconnect(error?: Error): void {
    if (this.closed || this.retry) return;
    if (error) this.logger.warn(`listener connection lost: ${error.message}`);
    if (this.client) discard(this.client);
    this.client = undefined;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.start();
    }, 1000);
  }
}

/** Closes a connection given up on; nothing it does afterwards reaches the listener. */
function discard(client: pg.Client): void {
  client.removeAllListeners('notification');
  client.removeAllListeners('end');
  client.removeAllListeners('error');
  client.on('error', () => undefined);
  void client.end().catch(() => undefined);
}
