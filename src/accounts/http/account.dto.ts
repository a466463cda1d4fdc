import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  IsInt,
  IsISO8601,
  IsISO4217CurrencyCode,
  IsNotEmpty,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { IsOptionalNotNull, toInteger } from '../../common/http/validation.js';
import { MAX_AMOUNT } from '../domain/money.js';

const MAX_VERSION = 2_147_483_647;

/*
 * class-validator checks a property's decorators from the bottom up, and stops at the first
 * failure: the type check sits lowest so that a wrong type is reported as such.
 */
export class OpenAccountDto {
  @ApiProperty({ example: 'customer-42', maxLength: 200 })
  @MaxLength(200)
  @IsNotEmpty()
  @IsString()
  ownerId: string;

  @ApiPropertyOptional({
    description: 'Minor units (cents)',
    minimum: 0,
    maximum: MAX_AMOUNT,
    default: 0,
  })
  @IsOptionalNotNull()
  @Max(MAX_AMOUNT)
  @Min(0)
  @IsInt()
  initialDeposit?: number;

  @ApiPropertyOptional({ description: 'ISO 4217 code', example: 'USD', default: 'USD' })
  @IsOptionalNotNull()
  @IsISO4217CurrencyCode()
  @Matches(/^[A-Z]{3}$/, { message: 'currency must be an upper-case ISO 4217 code' })
  @IsString()
  currency?: string;
}

export class ExpectedVersionDto {
  @ApiPropertyOptional({
    description: 'Fails with 409 CONCURRENCY_CONFLICT unless the account is at this version',
  })
  @IsOptionalNotNull()
  @Max(MAX_VERSION)
  @Min(0)
  @IsInt()
  expectedVersion?: number;
}

export class MoneyCommandDto extends ExpectedVersionDto {
  @ApiProperty({
    description: 'Minor units (cents)',
    minimum: 1,
    maximum: MAX_AMOUNT,
    example: 1050,
  })
  @Max(MAX_AMOUNT)
  @Min(1)
  @IsInt()
  amount: number;
}

export class ReadQueryDto {
  @ApiPropertyOptional({
    description:
      'Answer only once the read model has applied this global position (0: at once). The ' +
      'routes that read the event store (state, events) are always current.',
  })
  @IsOptionalNotNull()
  @Transform(toInteger)
  @Min(0)
  @IsInt()
  minPosition?: number;
}

export class ListAccountsQueryDto extends ReadQueryDto {
  @ApiProperty()
  @MaxLength(200)
  @IsNotEmpty()
  @IsString()
  ownerId: string;
}

export class TransactionsQueryDto extends ReadQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 50 })
  @IsOptionalNotNull()
  @Transform(toInteger)
  @Max(500)
  @Min(1)
  @IsInt()
  limit?: number;

  @ApiPropertyOptional({ description: 'A version: the page starts after it' })
  @IsOptionalNotNull()
  @Transform(toInteger)
  @Max(MAX_VERSION)
  @Min(-1)
  @IsInt()
  after?: number;
}

/**
 * The forms of ISO-8601 `asOf` takes, those JavaScript's Date reads: a date, or a date and time
 * (minutes, seconds, a fraction) with `Z`, an offset or none. Week and ordinal dates, the basic
 * format without separators, a year or a month alone are refused: Date reads some of them wrong,
 * or not at all.
 */
const INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
const ZONED = /(Z|[+-]\d{2}:?\d{2})$/;

/**
 * The instant of a valid `asOf`. Times in this API are UTC: a date and time without an offset is
 * read as UTC (Date would read it in the server's time zone), as a date alone is.
 */
export function instantOf(asOf: string): Date {
  return new Date(!asOf.includes('T') || ZONED.test(asOf) ? asOf : `${asOf}Z`);
}

export class StateQueryDto extends ReadQueryDto {
  @ApiPropertyOptional({ description: 'The state as of this version' })
  @IsOptionalNotNull()
  @Transform(toInteger)
  @Max(MAX_VERSION)
  @Min(0)
  @IsInt()
  version?: number;

  @ApiPropertyOptional({
    description:
      'The state as of this instant: ISO-8601, a date (its start, UTC) or a date and time, with Z ' +
      'or an offset (none: UTC)',
    example: '2026-12-08T10:30:00.000Z',
  })
  @IsOptionalNotNull()
  // RFC 3339 allows `t` and `z` in lower case.
  @Transform(({ value }) => (typeof value === 'string' ? value.toUpperCase() : value))
  @Matches(INSTANT, {
    message:
      'asOf must be an ISO-8601 date (2026-12-08) or date and time (2026-12-08T10:30:00.000Z)',
  })
  @IsISO8601({ strict: true })
  asOf?: string;
}

export class AccountCommandResponse {
  @ApiProperty({ format: 'uuid' }) accountId: string;
  @ApiProperty({ type: 'integer' }) version: number;
  @ApiProperty({ type: 'integer', description: 'Global position of the last event appended' })
  position: number;
}

export class AccountResponse {
  @ApiProperty({ format: 'uuid' }) accountId: string;
  @ApiProperty() ownerId: string;
  @ApiProperty() currency: string;
  @ApiProperty({ type: 'integer' }) balance: number;
  @ApiProperty({ enum: ['open', 'closed'] }) status: string;
  @ApiProperty({ type: 'integer' }) version: number;
  @ApiProperty({ format: 'date-time' }) openedAt: string;
  @ApiProperty({ format: 'date-time' }) updatedAt: string;
}
