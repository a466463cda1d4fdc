import {
  Inject,
  Injectable,
  Logger,
  type NestMiddleware,
  type OnModuleDestroy,
} from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { createHash } from 'node:crypto';
import { DataSource } from 'typeorm';
import { v5 as uuidv5 } from 'uuid';
import { isConnectionError } from '../../event-sourcing/index.js';
import { assertPlainInput } from '../http/hostile-input.js';

export const IDEMPOTENCY_TTL_HOURS = Symbol('IDEMPOTENCY_TTL_HOURS');
export const IDEMPOTENCY_HEADER = 'idempotency-key';
const VALID_KEY = /^[\x21-\x7e]{1,255}$/;
// Namespace of command ids derived from an idempotency key and the request.
const COMMANDS = '5a0c9d2b-7e61-4f3a-9b8c-1d2e3f405162';
// A claim whose request never finished (its process died) can be taken over after this long.
const ABANDONED_AFTER = '30 seconds';

const CLAIM = `
INSERT INTO idempotency_keys (key, request_hash) VALUES ($1, $2)
ON CONFLICT (key) DO UPDATE SET request_hash = EXCLUDED.request_hash, status_code = NULL, body = NULL,
  created_at = now(), locked_at = now()
WHERE idempotency_keys.created_at < now() - make_interval(hours => $3)
   OR (idempotency_keys.status_code IS NULL AND idempotency_keys.request_hash = EXCLUDED.request_hash
       AND idempotency_keys.locked_at < now() - interval '${ABANDONED_AFTER}')
RETURNING key`;

export type WithIdempotency = Request & { idempotentCommandId?: string };

/** JSON with sorted keys: the same body in another key order is the same request. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const error = (res: Response, statusCode: number, code: string, message: string) =>
  res.status(statusCode).json({ statusCode, code, message });

/**
 * `Idempotency-Key` on any POST (CONTRACT §3): the first response (status and body) is stored in
 * PostgreSQL before it is sent; a repeat with the same body gets it back unchanged, another body
 * gets 422 IDEMPOTENCY_KEY_REUSED, and a repeat while the first still runs gets 409
 * IDEMPOTENCY_KEY_IN_PROGRESS. A 5xx is not stored: the client retries with the same key, and the
 * command id derived from key and body makes the retry find what the first try may have stored.
 */
@Injectable()
export class IdempotencyMiddleware implements NestMiddleware, OnModuleDestroy {
  private readonly logger = new Logger('Idempotency');
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly dataSource: DataSource,
    @Inject(IDEMPOTENCY_TTL_HOURS) private readonly ttlHours: number,
  ) {
    this.sweeper = setInterval(() => void this.sweep(), 3_600_000).unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.sweeper);
  }

  async use(req: WithIdempotency, res: Response, next: NextFunction): Promise<void> {
    const key = req.header(IDEMPOTENCY_HEADER);
    if (req.method !== 'POST' || key === undefined) return next();
    if (!VALID_KEY.test(key)) {
      error(
        res,
        400,
        'VALIDATION_FAILED',
        'Idempotency-Key must be 1 to 255 visible ASCII characters',
      );
      return;
    }
    try {
      assertPlainInput(req.body);
    } catch (refused) {
      // What the route's validation would refuse anyway; canonical() must not walk it.
      error(res, 400, 'VALIDATION_FAILED', (refused as Error).message);
      return;
    }
    const hash = createHash('sha256')
      .update(`${req.method} ${req.path}\n${canonical(req.body ?? {})}`)
      .digest('hex');
    try {
      const claimed = await this.dataSource.query(CLAIM, [key, hash, this.ttlHours]);
      if (claimed.length === 0) return await this.answerRepeat(key, hash, res);
    } catch (failure) {
      return next(failure);
    }
    req.idempotentCommandId = uuidv5(`${key}\n${hash}`, COMMANDS);
    const json = res.json.bind(res);
    res.json = (body: unknown) => {
      void this.finish(key, res.statusCode, body).then(() => json(body));
      return res;
    };
    next();
  }

  private async answerRepeat(key: string, hash: string, res: Response): Promise<void> {
    const [row] = await this.dataSource.query(
      `SELECT request_hash AS hash, status_code AS "statusCode", body FROM idempotency_keys WHERE key = $1`,
      [key],
    );
    if (!row) {
      error(
        res,
        409,
        'IDEMPOTENCY_KEY_IN_PROGRESS',
        'a request with this Idempotency-Key was just released; retry',
      );
    } else if (row.hash !== hash) {
      error(
        res,
        422,
        'IDEMPOTENCY_KEY_REUSED',
        'this Idempotency-Key was used with another request',
      );
    } else if (row.statusCode === null) {
      error(
        res,
        409,
        'IDEMPOTENCY_KEY_IN_PROGRESS',
        'a request with this Idempotency-Key is still running; retry',
      );
    } else {
      res.status(row.statusCode).json(row.body);
    }
  }

  /** Stores the response before it is sent; a 5xx releases the key instead. */
  private async finish(key: string, statusCode: number, body: unknown): Promise<void> {
    try {
      if (statusCode >= 500) {
        await this.dataSource.query(`DELETE FROM idempotency_keys WHERE key = $1`, [key]);
      } else {
        await this.dataSource.query(
          `UPDATE idempotency_keys SET status_code = $2, body = $3 WHERE key = $1`,
          [key, statusCode, JSON.stringify(body ?? null)],
        );
      }
    } catch (failure) {
      // The response still goes out; a repeat of this key will then run the command again, which
      // its derived command id makes harmless.
      if (!isConnectionError(failure))
        this.logger.error(`could not store the response for a key: ${String(failure)}`);
    }
  }

  private async sweep(): Promise<void> {
    await this.dataSource
      .query(`DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)`, [
        this.ttlHours,
      ])
      .catch(() => undefined);
  }
}
