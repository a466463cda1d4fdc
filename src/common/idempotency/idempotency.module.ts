import {
  Module,
  RequestMethod,
  type DynamicModule,
  type MiddlewareConsumer,
  type NestModule,
} from '@nestjs/common';
import { IDEMPOTENCY_TTL_HOURS, IdempotencyMiddleware } from './idempotency.middleware.js';

/** `Idempotency-Key` for every POST route of the app (keys kept `ttlHours`, default 24). */
@Module({})
export class IdempotencyModule implements NestModule {
  static forRoot(options: { ttlHours?: number } = {}): DynamicModule {
    return {
      module: IdempotencyModule,
      providers: [
        { provide: IDEMPOTENCY_TTL_HOURS, useValue: options.ttlHours ?? 24 },
        IdempotencyMiddleware,
      ],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply(IdempotencyMiddleware)
      .forRoutes({ path: '{*path}', method: RequestMethod.POST });
  }
}
