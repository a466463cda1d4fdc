import { Controller, Get, Header, UseFilters, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { AdminGuard } from '../admin/admin.guard.js';
import { ApiErrorFilter } from '../common/http/api-error.filter.js';
import { MetricsService } from './metrics.service.js';

@ApiTags('admin')
@ApiBearerAuth()
@Controller('metrics')
@UseGuards(AdminGuard)
@UseFilters(ApiErrorFilter)
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  /**
   * Prometheus text format: commands, events appended, projections, parked events, pool, process;
   * with a processor thread, its metrics too.
   */
  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  scrape(): Promise<string> {
    return this.metrics.scrape();
  }
}
