import {
  Catch,
  HttpException,
  HttpStatus,
  Logger,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import type { Response } from 'express';
import {
  DomainError,
  isConnectionError,
  type DomainErrorKind,
} from '../../event-sourcing/index.js';

/** The error body of CONTRACT §4. */
export interface ApiError {
  statusCode: number;
  code: string;
  message: string;
}

const STATUS_OF: Record<DomainErrorKind, number> = {
  invalid: HttpStatus.BAD_REQUEST,
  not_found: HttpStatus.NOT_FOUND,
  conflict: HttpStatus.CONFLICT,
  rejected: HttpStatus.UNPROCESSABLE_ENTITY,
  unavailable: HttpStatus.SERVICE_UNAVAILABLE,
};

const CODE_OF_STATUS: Record<number, string> = {
  400: 'VALIDATION_FAILED',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'TOO_MANY_REQUESTS',
  503: 'SERVICE_UNAVAILABLE',
};

/** Turns any error into `{statusCode, code, message}`; never leaks a stack, SQL or a class name. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof DomainError) {
    return { statusCode: STATUS_OF[error.kind], code: error.code, message: error.message };
  }
  if (error instanceof HttpException) {
    const statusCode = error.getStatus();
    const body = error.getResponse() as string | { code?: string; message?: string | string[] };
    const code =
      (typeof body === 'object' && body.code) || CODE_OF_STATUS[statusCode] || `HTTP_${statusCode}`;
    const raw = typeof body === 'string' ? body : (body.message ?? error.message);
    return { statusCode, code, message: Array.isArray(raw) ? raw.join('; ') : raw };
  }
  // SQLSTATE class 22 (data exception): a value from the request that PostgreSQL cannot store.
  const sqlState =
    (error as { driverError?: { code?: unknown }; code?: unknown }).driverError?.code ??
    (error as { code?: unknown }).code;
  if (typeof sqlState === 'string' && sqlState.startsWith('22')) {
    return {
      statusCode: HttpStatus.BAD_REQUEST,
      code: 'VALIDATION_FAILED',
      message: 'a value in the request cannot be stored',
    };
  }
  const unavailable = (why: string): ApiError => ({
    statusCode: HttpStatus.SERVICE_UNAVAILABLE,
    code: 'DATABASE_UNAVAILABLE',
    message: `${why}; a command may or may not have been stored: retry with the same Idempotency-Key`,
  });
  // The server gave up on a statement (57014: statement_timeout, an operator's cancel) or lacks a
  // resource other than a connection (class 53: memory, disk): no fault of the request, nor of the
  // app.
  if (sqlState === '57014' || (typeof sqlState === 'string' && /^53(?!300)/.test(sqlState))) {
    return unavailable(
      'the database did not complete the request (a timeout, or a lack of resources)',
    );
  }
  if (isConnectionError(error)) return unavailable('the database cannot be reached');
  return {
    statusCode: HttpStatus.INTERNAL_SERVER_ERROR,
    code: 'INTERNAL_ERROR',
    message: 'internal error',
  };
}

/** The one filter that maps every error to the contract's body (CONTRACT §4). */
@Catch()
export class ApiErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(error: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const body = toApiError(error);
    // A 500 is a bug: its stack. A 503 (a stale read model, the database out of reach) is a
    // passing condition the client is told to retry: one line.
    const message = error instanceof Error ? error.message : String(error);
    if (body.statusCode === 503) this.logger.warn(`${body.code}: ${message}`);
    else if (body.statusCode >= 500)
      this.logger.error(error instanceof Error ? (error.stack ?? message) : message);
    if (response.headersSent) return;
    // Every 503 is one to retry (CONTRACT §3-4): when, in seconds (RFC 9110 §10.2.3).
    if (body.statusCode === 503) response.setHeader('Retry-After', '1');
    response.status(body.statusCode).json(body);
  }
}
