import {
  Body,
  Controller,
  Get,
  HttpCode,
  Param,
  Post,
  Query,
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { ApiErrorFilter } from '../common/http/api-error.filter.js';
import { noFields } from '../common/http/validation.js';
import { GlobalLogProcessor, type ProjectionInfo } from '../event-sourcing/index.js';
import { AdminGuard } from './admin.guard.js';

@ApiTags('admin')
@ApiBearerAuth()
@Controller('projections')
@UseGuards(AdminGuard)
@UseFilters(ApiErrorFilter)
export class ProjectionsController {
  constructor(private readonly processor: GlobalLogProcessor) {}

  /** Every projection and saga: checkpoint position, lag, status and parked events. */
  @Get()
  async list(@Query(noFields) _query: object): Promise<{ items: ProjectionInfo[] }> {
    return { items: await this.processor.list() };
  }

  /** Resets the read model (tables and checkpoint, one transaction) and replays the log into it. */
  @Post(':name/rebuild')
  @HttpCode(202)
  async rebuild(
    @Param('name') name: string,
    @Query(noFields) _query: object,
    @Body(noFields) _body: object,
  ): Promise<{ name: string; status: 'rebuilding' }> {
    await this.processor.rebuild(name);
    return { name, status: 'rebuilding' };
  }

  /** Applies the projection's parked events again. */
  @Post(':name/retry')
  @HttpCode(200)
  retry(
    @Param('name') name: string,
    @Query(noFields) _query: object,
    @Body(noFields) _body: object,
  ): Promise<{ retried: number; failed: number }> {
    return this.processor.retryParked(name);
  }
}
