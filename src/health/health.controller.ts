import { Controller, Get, ServiceUnavailableException, UseFilters } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import {
  HealthCheck,
  HealthCheckService,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import { ApiErrorFilter } from '../common/http/api-error.filter.js';
import { GlobalLogProcessor } from '../event-sourcing/index.js';

@ApiTags('health')
@Controller('health')
@UseFilters(ApiErrorFilter)
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    private readonly processor: GlobalLogProcessor,
  ) {}

  /**
   * 200 when the database answers within a second (with each projection's lag and status, which
   * never make the app unhealthy), else 503 DATABASE_UNAVAILABLE.
   */
  @Get()
  @HealthCheck()
  async check() {
    try {
      return await this.health.check([
        () => this.database.pingCheck('database', { timeout: 1000 }),
        async () => {
          const projections = await this.processor.list();
          return this.indicators
            .check('projections')
            .up(
              Object.fromEntries(
                projections.map(({ name, lag, status }) => [name, { lag, status }]),
              ),
            );
        },
      ]);
    } catch {
      throw new ServiceUnavailableException({
        code: 'DATABASE_UNAVAILABLE',
        message: 'the database does not answer',
      });
    }
  }
}
