import { Module, type DynamicModule } from '@nestjs/common';
import { ADMIN_TOKEN, AdminGuard } from './admin.guard.js';
import { ProjectionsController } from './projections.controller.js';

/** Operator routes: projections (list, rebuild, retry parked events). Mount it only where wanted. */
@Module({})
export class AdminModule {
  static forRoot(options: { token?: string }): DynamicModule {
    return {
      module: AdminModule,
      controllers: [ProjectionsController],
      providers: [{ provide: ADMIN_TOKEN, useValue: options.token }, AdminGuard],
    };
  }
}
