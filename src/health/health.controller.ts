import { Controller, Get, ServiceUnavailableException, UseFilters } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { ApiErrorFilter } from '../common/http/api-error.filter.js';

@ApiTags('health')
@Controller('health')
@UseFilters(ApiErrorFilter)
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
  ) {}

  /** 200 when the database answers within a second, else 503 DATABASE_UNAVAILABLE. */
  @Get()
  @HealthCheck()
  async check() {
    try {
      return await this.health.check([
        () => this.database.pingCheck('database', { timeout: 1000 }),
      ]);
    } catch {
      throw new ServiceUnavailableException({
        code: 'DATABASE_UNAVAILABLE',
        message: 'the database does not answer',
      });
    }
  }
}
