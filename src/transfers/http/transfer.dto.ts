import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsUUID, Max, Min } from 'class-validator';
import { toCanonicalUuid } from '../../common/http/validation.js';
import { MAX_AMOUNT } from '../../accounts/domain/money.js';

export class RequestTransferDto {
  @ApiProperty({ format: 'uuid' })
  @Transform(toCanonicalUuid)
  @IsUUID()
  fromAccountId: string;

  @ApiProperty({ format: 'uuid' })
  @Transform(toCanonicalUuid)
  @IsUUID()
  toAccountId: string;

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

export class TransferAcceptedResponse {
  @ApiProperty({ format: 'uuid' }) transferId: string;
  @ApiProperty({ type: 'integer' }) position: number;
}

export class TransferResponse {
  @ApiProperty({ format: 'uuid' }) transferId: string;
  @ApiProperty({ format: 'uuid' }) fromAccountId: string;
  @ApiProperty({ format: 'uuid' }) toAccountId: string;
  @ApiProperty({ type: 'integer' }) amount: number;
  @ApiProperty({ enum: ['pending', 'completed', 'failed'] }) status: string;
  @ApiProperty({ required: false, description: 'The code of the failing step, only when failed' })
  reason?: string;
}
