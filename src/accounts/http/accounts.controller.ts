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
import { ApiCreatedResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { BadRequestException } from '@nestjs/common';
import { AccountOwnerGuard } from './account-owner.guard.js';
import { ApiErrorFilter } from '../../common/http/api-error.filter.js';
import { RequestCommandMetadata } from '../../common/http/correlation.js';
import { noFields, strictValidationPipe, uuidParam } from '../../common/http/validation.js';
import type { CommandMetadata } from '../../event-sourcing/index.js';
import type { AccountCommandResult } from '../account-command-result.js';
import { GetAccountQuery } from '../account-summary/get-account.query.js';
import { ListAccountsQuery } from '../account-summary/list-accounts.query.js';
import { CloseAccountCommand } from '../close-account.command.js';
import { DepositMoneyCommand } from '../deposit-money.command.js';
import { GetAccountEventsQuery } from '../history/get-account-events.query.js';
import { GetAccountStateQuery } from '../history/get-account-state.query.js';
import { OpenAccountCommand } from '../open-account.command.js';
import { GetTransactionsQuery } from '../statement/get-transactions.query.js';
import { WithdrawMoneyCommand } from '../withdraw-money.command.js';
import {
  AccountCommandResponse,
  AccountResponse,
  ExpectedVersionDto,
  instantOf,
  ListAccountsQueryDto,
  MoneyCommandDto,
  OpenAccountDto,
  ReadQueryDto,
  StateQueryDto,
  TransactionsQueryDto,
} from './account.dto.js';

@ApiTags('accounts')
@Controller('accounts')
@UsePipes(strictValidationPipe)
@UseFilters(ApiErrorFilter)
@UseGuards(AccountOwnerGuard)
export class AccountsController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
  ) {}

  @Post()
  @ApiCreatedResponse({ type: AccountCommandResponse })
  open(
    @Body() body: OpenAccountDto,
    @Query(noFields) _query: object,
    @RequestCommandMetadata() metadata: CommandMetadata,
  ): Promise<AccountCommandResult> {
    return this.commands.execute(
      new OpenAccountCommand(
        body.ownerId,
        body.currency ?? 'USD',
        body.initialDeposit ?? 0,
        metadata,
      ),
    );
  }

  @Post(':id/deposits')
  @ApiCreatedResponse({ type: AccountCommandResponse })
  deposit(
    @Param('id', uuidParam) id: string,
    @Body() body: MoneyCommandDto,
    @Query(noFields) _query: object,
    @RequestCommandMetadata() metadata: CommandMetadata,
  ): Promise<AccountCommandResult> {
    return this.commands.execute(
      new DepositMoneyCommand(id, body.amount, { expectedVersion: body.expectedVersion, metadata }),
    );
  }

  @Post(':id/withdrawals')
  @ApiCreatedResponse({ type: AccountCommandResponse })
  withdraw(
    @Param('id', uuidParam) id: string,
    @Body() body: MoneyCommandDto,
    @Query(noFields) _query: object,
    @RequestCommandMetadata() metadata: CommandMetadata,
  ): Promise<AccountCommandResult> {
    return this.commands.execute(
      new WithdrawMoneyCommand(id, body.amount, {
        expectedVersion: body.expectedVersion,
        metadata,
      }),
    );
  }

  @Post(':id/close')
  @HttpCode(201)
  @ApiCreatedResponse({ type: AccountCommandResponse })
  close(
    @Param('id', uuidParam) id: string,
    @Body() body: ExpectedVersionDto,
    @Query(noFields) _query: object,
    @RequestCommandMetadata() metadata: CommandMetadata,
  ): Promise<AccountCommandResult> {
    return this.commands.execute(
      new CloseAccountCommand(id, { expectedVersion: body.expectedVersion, metadata }),
    );
  }

  @Get()
  list(@Query() query: ListAccountsQueryDto) {
    return this.queries.execute(new ListAccountsQuery(query.ownerId, query.minPosition));
  }

  @Get(':id')
  @ApiOkResponse({ type: AccountResponse })
  get(@Param('id', uuidParam) id: string, @Query() query: ReadQueryDto) {
    return this.queries.execute(new GetAccountQuery(id, query.minPosition));
  }

  @Get(':id/transactions')
  transactions(@Param('id', uuidParam) id: string, @Query() query: TransactionsQueryDto) {
    return this.queries.execute(
      new GetTransactionsQuery(id, query.limit ?? 50, query.after, query.minPosition),
    );
  }

  @Get(':id/state')
  state(@Param('id', uuidParam) id: string, @Query() query: StateQueryDto) {
    if (query.version !== undefined && query.asOf !== undefined) {
      throw new BadRequestException({
        code: 'VALIDATION_FAILED',
        message: 'give either version or asOf, not both',
      });
    }
    const at =
      query.version !== undefined
        ? { version: query.version }
        : query.asOf !== undefined
          ? { asOf: instantOf(query.asOf) }
          : undefined;
    return this.queries.execute(new GetAccountStateQuery(id, at));
  }

  @Get(':id/events')
  events(@Param('id', uuidParam) id: string, @Query() _query: ReadQueryDto) {
    return this.queries.execute(new GetAccountEventsQuery(id));
  }
}
