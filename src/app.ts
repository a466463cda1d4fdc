import { HttpException, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import express from 'express';
import { isUtf8 } from 'node:buffer';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import { rateLimit as expressRateLimit } from 'express-rate-limit';
import helmet from 'helmet';
import { Logger } from 'nestjs-pino';
import { AppModule, type AppModuleConfig } from './app.module.js';
import { ApiErrorFilter, toApiError } from './common/http/api-error.filter.js';
import { correlate } from './common/http/correlation.js';

export const BODY_LIMIT = '64kb';

const NOT_AN_OBJECT = {
  statusCode: 400,
  code: 'VALIDATION_FAILED',
  message: 'request body must be a JSON object',
};

/** Whether `text` is JSON (the parser's strict mode refuses any but an object or an array). */
function isJson(text: unknown): boolean {
  try {
    JSON.parse(String(text));
    return true;
  } catch {
    return false;
  }
}

/** Body-parser failures happen before any route: answer them with the contract's error body. */
function bodyErrors(
  error: { type?: string; status?: number; message?: string; body?: string },
  _req: Request,
  res: Response,
  next: NextFunction,
) {
  if (!error?.type || !error.status || error.status >= 500) return next(error);
  const body =
    error.type === 'entity.too.large'
      ? {
          statusCode: 413,
          code: 'PAYLOAD_TOO_LARGE',
          message: `request body is larger than ${BODY_LIMIT}`,
        }
      : error.type === 'entity.parse.failed'
        ? isJson(error.body)
          ? NOT_AN_OBJECT
          : {
              statusCode: 400,
              code: 'VALIDATION_FAILED',
              message: 'request body is not valid JSON',
            }
        : toApiError(new HttpException(error.message ?? 'bad request body', error.status));
  res.status(body.statusCode).json(body);
}

/**
 * A JSON body in UTF-8 (the default) must be valid UTF-8: the parser would store U+FFFD for each
 * invalid byte, where the hostile-input check refuses a NUL or a lone surrogate.
 */
function verify(_req: unknown, _res: unknown, body: Buffer, encoding: string): void {
  if (/^utf-?8$/.test(encoding) && !isUtf8(body)) {
    throw Object.assign(new Error('request body is not valid UTF-8'), {
      status: 400,
      type: 'encoding.invalid',
    });
  }
}

/** Every body of the API is an object: an array would otherwise be validated index by index. */
function objectBodies(req: Request, res: Response, next: NextFunction) {
  if (Array.isArray(req.body)) return res.status(400).json(NOT_AN_OBJECT);
  // Read by the raw parser: a body of another type, which the routes would otherwise not see (a
  // command would run without its expectedVersion). An empty one is no body.
  if (Buffer.isBuffer(req.body) && req.body.length === 0) req.body = undefined;
  else if (Buffer.isBuffer(req.body)) {
    return res.status(415).json({
      statusCode: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
      message: 'request body must be JSON (Content-Type: application/json)',
    });
  }
  next();
}

/**
 * Once shutdown has begun (SIGTERM), new requests get 503 SHUTTING_DOWN with `Connection: close`
 * while those in flight finish, so keep-alive clients move to another instance.
 */
function refuseWhileClosing(adapter: { isShuttingDown?: boolean }) {
  return (_req: Request, res: Response, next: NextFunction) => {
    if (!adapter.isShuttingDown) return next();
    res.set({ Connection: 'close', 'Retry-After': '1' });
    res.status(503).json({
      statusCode: 503,
      code: 'SHUTTING_DOWN',
      message: 'the server is shutting down; retry',
    });
  };
}

/** Optional rate limiting per client address (RATE_LIMIT_PER_MINUTE): 429 TOO_MANY_REQUESTS beyond it. */
function rateLimit(perMinute: number) {
  return expressRateLimit({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    handler: (_req, res) =>
      res.status(429).json({
        statusCode: 429,
        code: 'TOO_MANY_REQUESTS',
        message: `more than ${perMinute} requests a minute`,
      }),
  });
}

/** Builds the HTTP app (not listening yet): logs, security headers, body limit, errors, OpenAPI at /docs. */
export async function createApp(config: AppModuleConfig): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    bodyParser: false,
    bufferLogs: true,
    abortOnError: false,
  });
  app.useLogger(app.get(Logger));
  app.use(correlate);
  app.use(refuseWhileClosing(app.getHttpAdapter() as { isShuttingDown?: boolean }));
  app.disable('x-powered-by');
  app.use(helmet());
  if (config.corsOrigins?.length) app.enableCors({ origin: config.corsOrigins });
  if (config.rateLimitPerMinute) app.use(rateLimit(config.rateLimitPerMinute));
  // express.json, not useBodyParser: Nest keeps `verify` for its own rawBody option.
  app.use(
    express.json({ limit: BODY_LIMIT, type: ['application/json', 'application/*+json'], verify }),
  );
  // Any other body is read as well, up to the same limit (a larger one is 413 too), to be refused
  // with 415 (objectBodies).
  app.useBodyParser('raw', { limit: BODY_LIMIT, type: () => true });
  app.use(bodyErrors);
  app.use(objectBodies);
  app.useGlobalFilters(new ApiErrorFilter());
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('tally')
      .setDescription('Event-sourced bank accounts. Amounts are integers in minor units (cents).')
      .setVersion('1')
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
  return app;
}
