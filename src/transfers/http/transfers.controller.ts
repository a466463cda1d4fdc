import {
  UseGuards,
  Body,
  Controller,
  Get,
  HttpCode,
  Param,
  Post,
  Query,
  UseFilters,
  UsePipes,
} from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiAcceptedResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { ReadQueryDto } from '../../accounts/http/account.dto.js';
import { TransferOwnerGuard } from './transfer-owner.guard.js';
import { ApiErrorFilter } from '../../common/http/api-error.filter.js';
import { RequestCommandMetadata } from '../../common/http/correlation.js';
import { noFields, strictValidationPipe, uuidParam } from '../../common/http/validation.js';
import type { CommandMetadata } from '../../event-sourcing/index.js';
import { RequestTransferCommand } from '../request-transfer.command.js';
import { GetTransferQuery } from '../transfer-summary/get-transfer.query.js';
import { RequestTransferDto, TransferAcceptedResponse, TransferResponse } from './transfer.dto.js';

@ApiTags('transfers')
@Controller('transfers')
@UsePipes(strictValidationPipe)
@UseFilters(ApiErrorFilter)
@UseGuards(TransferOwnerGuard)
export class TransfersController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
  ) {}

  /** Accepted at once; the saga moves the money. Short funds or a closed account end in `failed`. */
  @Post()
  @HttpCode(202)
  @ApiAcceptedResponse({ type: TransferAcceptedResponse })
  request(
    @Body() body: RequestTransferDto,
    @Query(noFields) _query: object,
    @RequestCommandMetadata() metadata: CommandMetadata,
  ) {
    return this.commands.execute(
      new RequestTransferCommand(body.fromAccountId, body.toAccountId, body.amount, metadata),
    );
  }

  @Get(':id')
  @ApiOkResponse({ type: TransferResponse })
  get(@Param('id', uuidParam) id: string, @Query() query: ReadQueryDto) {
    return this.queries.execute(new GetTransferQuery(id, query.minPosition));
  }
}
