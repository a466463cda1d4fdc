import { Module, type DynamicModule } from '@nestjs/common';
import type { MessagePort } from 'node:worker_threads';
import { ADMIN_TOKEN, AdminGuard } from './admin.guard.js';
import { MetricsController } from '../observability/metrics.controller.js';
import { METRICS_PEER, MetricsService } from '../observability/metrics.service.js';
import { ProjectionsController } from './projections.controller.js';

/** Operator routes: projections (list, rebuild, retry parked events) and Prometheus metrics. */
@Module({})
export class AdminModule {
  /** `metricsPeer`: see {@link METRICS_PEER}. */
  static forRoot(options: { token?: string; metricsPeer?: MessagePort }): DynamicModule {
    return {
      module: AdminModule,
      controllers: [ProjectionsController, MetricsController],
      providers: [
        { provide: ADMIN_TOKEN, useValue: options.token },
        { provide: METRICS_PEER, useValue: options.metricsPeer },
        AdminGuard,
        MetricsService,
      ],
    };
  }
}
