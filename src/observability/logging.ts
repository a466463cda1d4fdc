import type { IncomingMessage } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import type { Options as HttpLogOptions } from 'pino-http';
import type { LogLevelName } from '../config/config.js';
import { correlationIdFrom } from '../common/http/correlation.js';

const PINO_LEVEL: Record<LogLevelName | 'silent', string> = {
  fatal: 'fatal',
  error: 'error',
  warn: 'warn',
  log: 'info',
  debug: 'debug',
  verbose: 'trace',
  silent: 'silent',
};

/**
 * The level of a request's line: `error` for a 500 (a bug) or a request that failed, `warn` for
 * a 4xx and for a 503 (retry: a stale read model, the database out of reach, shutting down).
 */
export function requestLogLevel(statusCode: number, error?: Error): 'error' | 'warn' | 'info' {
  if (statusCode === 503) return 'warn';
  if (error || statusCode >= 500) return 'error';
  return statusCode >= 400 ? 'warn' : 'info';
}

/**
 * Structured JSON logs (pino): every line logged while a request runs carries its
 * `correlationId` (the request's X-Correlation-Id, or a generated one).
 */
export function loggingModule(level: LogLevelName | 'silent') {
  return LoggerModule.forRoot({ pinoHttp: requestLogOptions(level) });
}

/** The options of pino-http, which logs a line per request (see {@link loggingModule}). */
export function requestLogOptions(level: LogLevelName | 'silent'): HttpLogOptions {
  return {
    level: PINO_LEVEL[level],
    // The id `correlate` (the app's first middleware) chose; a host without it gets one here.
    genReqId: (req: IncomingMessage & { correlationId?: string }) =>
      (req.correlationId ??= correlationIdFrom(req.headers['x-correlation-id'])),
    customAttributeKeys: { reqId: 'correlationId' },
    // Binds `correlationId` to every line logged during the request, not just the last one.
    quietReqLogger: true,
    customLogLevel: (_req, res, error) => requestLogLevel(res.statusCode, error),
    // pino-http gives every response of 500 or more an `err` of its own ("failed with status
    // code"), stack included: for a 503, which the client retries, that is noise.
    customErrorObject: (_req, res, _error, line: Record<string, unknown>) => {
      if (res.statusCode !== 503) return line;
      const { err: _err, ...rest } = line;
      return rest;
    },
    customErrorMessage: (_req, res) =>
      res.statusCode === 503 ? 'request answered 503: retry' : 'request errored',
    // Lines stay short: no headers (they may carry tokens), just what identifies the request.
    serializers: {
      req: (req: { method: string; url: string }) => ({ method: req.method, url: req.url }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  };
}
