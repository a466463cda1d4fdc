import { Module, type DynamicModule } from '@nestjs/common';
import { ADMIN_TOKEN, AdminGuard } from './admin.guard.js';
import { MetricsController } from '../observability/metrics.controller.js';
import { MetricsService } from '../observability/metrics.service.js';
import { ProjectionsController } from './projections.controller.js';

/** Operator routes: projections (list, rebuild, retry parked events) and Prometheus metrics. */
@Module({})
export class AdminModule {
  static forRoot(options: { token?: string }): DynamicModule {
    return {
      module: AdminModule,
      controllers: [ProjectionsController, MetricsController],
      providers: [{ provide: ADMIN_TOKEN, useValue: options.token }, AdminGuard, MetricsService],
    };
  }
}
