/**
 * How a caller should read a domain error. The HTTP layer maps each kind to one status
 * (invalid 400, not_found 404, conflict 409, rejected 422, unavailable 503).
 */
export type DomainErrorKind = 'invalid' | 'not_found' | 'conflict' | 'rejected' | 'unavailable';

/** Base of every error the domain or the event store raises on purpose; `code` is stable. */
export abstract class DomainError extends Error {
  abstract readonly code: string;
  abstract readonly kind: DomainErrorKind;

  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The stream was not at the version the writer expected; nothing was appended. */
export class ConcurrencyError extends DomainError {
  readonly code = 'CONCURRENCY_CONFLICT';
  readonly kind = 'conflict';

  constructor(
    readonly streamId: string,
    readonly expected: string | number,
    readonly actual?: number,
  ) {
    super(
      actual === undefined
        ? `stream ${streamId} is not at the expected version ${expected}`
        : `stream ${streamId} is at version ${actual}, expected ${expected}`,
    );
  }
}

/**
 * An append in a caller's transaction found the stream's last event written by a transaction that
 * got its id after the caller's did (the caller's wrote something before it appended). Stored, its
 * events would come before that event in the global log, which is in transaction id order, and
 * projections would skip them. Nothing was appended, whatever the version: retry the work in a
 * new transaction, or append before writing anything else in it.
 */
export class TransactionOrderError extends ConcurrencyError {
  constructor(streamId: string, expected: string | number, actual: number) {
    super(streamId, expected, actual);
    this.message =
      `stream ${streamId} got version ${actual} from a transaction younger than this one, which ` +
      `cannot append after it: retry in a new transaction`;
  }
}

/**
 * A stored event the registry cannot turn into a current event: an unknown type, or a schema
 * version that no upcaster chain leads from. Names the event so an operator can find it.
 */
export class EventSchemaError extends DomainError {
  readonly code = 'UNREADABLE_EVENT';
  readonly kind = 'rejected';

  constructor(
    readonly type: string,
    readonly schemaVersion: number,
    readonly position: number,
    reason: string,
  ) {
    super(`cannot read event ${type} v${schemaVersion} at position ${position}: ${reason}`);
  }
}

/** A read model did not reach the position the client asked for in time; the client may retry. */
export class StaleReadModelError extends DomainError {
  readonly code = 'STALE_READ_MODEL';
  readonly kind = 'unavailable';

  constructor(
    readonly projection: string,
    readonly position: number,
  ) {
    super(`read model ${projection} has not reached position ${position} yet; retry`);
  }
}

export class ProjectionNotFoundError extends DomainError {
  readonly code = 'PROJECTION_NOT_FOUND';
  readonly kind = 'not_found';

  constructor(name: string) {
    super(`there is no projection named ${name}`);
  }
}

/** Sagas issue commands: replaying them from the start would act twice, so they are not rebuilt. */
export class ProjectionNotRebuildableError extends DomainError {
  readonly code = 'PROJECTION_NOT_REBUILDABLE';
  readonly kind = 'conflict';

  constructor(name: string) {
    super(`${name} is a saga; sagas are not rebuilt`);
  }
}

// Connection-level failures: the class 08 SQLSTATEs, server shutdown (57P), a connection refused
// beyond a limit (53300: max_connections, a role's or a database's CONNECTION LIMIT), or refused
// at login (class 28: the role or its password; 3D000: no such database), and socket errors. None
// of them is the work's fault. The rest of class 53 is not here: some of it follows
// the work (53400 temp_file_limit, 53200 out of memory for one huge statement), so a projection
// counts it against the event, which would otherwise hold the projection for good.
const CONNECTION_CODES =
  /^(08|57P|53300$|28|3D000$)|^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN)$/;
// Then: a statement sent on a connection that has just died (pg's client, or the TypeORM query
// runner released when its connection failed), or on a pool closed by the shutdown; a database
// that accepts no connections (ALLOW_CONNECTIONS false: 55000, a code other failures share).
const CONNECTION_MESSAGES =
  /Connection terminated|connection timeout|Connection refused|timeout exceeded when trying to connect|not queryable|Query runner already released|Cannot use a pool after calling end|is not currently accepting connections/i;

/**
 * Whether an error means the database could not be reached (as opposed to refusing a statement):
 * the same work may succeed later, unchanged.
 */
export function isConnectionError(error: unknown): boolean {
  const err = error as { code?: unknown; message?: unknown; driverError?: unknown } | undefined;
  if (typeof err?.code === 'string' && CONNECTION_CODES.test(err.code)) return true;
  if (typeof err?.message === 'string' && CONNECTION_MESSAGES.test(err.message)) return true;
  return (
    err?.driverError !== undefined &&
    err.driverError !== error &&
    isConnectionError(err.driverError)
  );
}
