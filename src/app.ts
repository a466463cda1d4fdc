import type { INestApplication, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import { AppModule, type AppModuleConfig } from './app.module.js';
import { ApiErrorFilter, toApiError } from './common/http/api-error.filter.js';

export const BODY_LIMIT = '64kb';

/** Body-parser failures happen before any route: answer them with the contract's error body. */
function bodyErrors(
  error: { type?: string; status?: number },
  _req: Request,
  res: Response,
  next: NextFunction,
) {
  if (!error?.type) return next(error);
  const tooLarge = error.type === 'entity.too.large';
  const statusCode = tooLarge ? 413 : (error.status ?? 400);
  const body = tooLarge
    ? {
        statusCode,
        code: 'PAYLOAD_TOO_LARGE',
        message: `request body is larger than ${BODY_LIMIT}`,
      }
    : statusCode === 400
      ? { statusCode, code: 'VALIDATION_FAILED', message: 'request body is not valid JSON' }
      : toApiError(error);
  res.status(body.statusCode).json(body);
}

/** Builds the HTTP app (not listening yet): body limit, errors, OpenAPI at /docs. */
export async function createApp(
  config: AppModuleConfig,
  logger: LogLevel[] | false = ['error', 'warn'],
): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    bodyParser: false,
    logger,
    abortOnError: false,
  });
  app.disable('x-powered-by');
  app.useBodyParser('json', { limit: BODY_LIMIT });
  app.use(bodyErrors);
  app.useGlobalFilters(new ApiErrorFilter());
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('tally')
      .setDescription('Event-sourced bank accounts. Amounts are integers in minor units (cents).')
      .setVersion('1')
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
  return app;
}
