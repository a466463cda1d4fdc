import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { v4 as uuidv4 } from 'uuid';
import type { CommandMetadata } from '../../event-sourcing/index.js';
import type { WithIdempotency } from '../idempotency/idempotency.middleware.js';

export const CORRELATION_HEADER = 'x-correlation-id';
const VALID = /^[A-Za-z0-9._:-]{1,128}$/;

export type WithCorrelation = Request & { correlationId?: string };

/** The given X-Correlation-Id when it is 1-128 of [A-Za-z0-9._:-], else a new UUID. */
export function correlationIdFrom(given: string | string[] | undefined): string {
  return typeof given === 'string' && VALID.test(given) ? given : uuidv4();
}

/** The request's correlation id, chosen once. */
export function correlationOf(request: WithCorrelation): string {
  request.correlationId ??= correlationIdFrom(request.header(CORRELATION_HEADER));
  return request.correlationId;
}

/**
 * Express middleware, first of all: takes the request's `X-Correlation-Id` (or makes one) and
 * echoes it on the response, also on answers given before any route (bad JSON, 413).
 */
export function correlate(request: WithCorrelation, response: Response, next: NextFunction): void {
  response.setHeader('X-Correlation-Id', correlationOf(request));
  next();
}

/**
 * Parameter decorator: the metadata of the command this request sends. The command id is new each
 * time, or derived from the Idempotency-Key and the body, so that a retry is the same command.
 */
export const RequestCommandMetadata = createParamDecorator(
  (_data: unknown, context: ExecutionContext): CommandMetadata => {
    const request = context.switchToHttp().getRequest<WithCorrelation & WithIdempotency>();
    return {
      commandId: request.idempotentCommandId ?? uuidv4(),
      correlationId: correlationOf(request),
    };
  },
);
