import {
  Inject,
  Injectable,
  Optional,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { isUUID } from 'class-validator';
import type { Request } from 'express';
import { Account } from '../../accounts/domain/account.aggregate.js';
import { assertOwner, OWNER_RESOLVER, type OwnerResolver } from '../../common/http/ownership.js';
import { canonicalUuid } from '../../common/http/validation.js';
import { AggregateRepository } from '../../event-sourcing/index.js';
import { Transfer } from '../domain/transfer.aggregate.js';

/**
 * With an OwnerResolver: a transfer may only take money from the caller's own account, and is
 * shown only to the owners of its two accounts.
 */
@Injectable()
export class TransferOwnerGuard implements CanActivate {
  constructor(
    private readonly repository: AggregateRepository,
    @Optional() @Inject(OWNER_RESOLVER) private readonly resolver?: OwnerResolver,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (!this.resolver) return true;
    const request = context.switchToHttp().getRequest<Request>();
    const ownerOf = async (accountId: string) =>
      (await this.repository.load(Account, accountId)).ownerId;
    const id = request.params.id;
    if (typeof id === 'string') {
      if (!isUUID(id)) return true;
      const transfer = await this.repository.load(Transfer, canonicalUuid(id));
      if (!transfer.status) return true;
      const owners = await Promise.all([
        ownerOf(transfer.fromAccountId),
        ownerOf(transfer.toAccountId),
      ]);
      await assertOwner(this.resolver, request, owners);
      return true;
    }
    const from = request.body?.fromAccountId;
    if (typeof from !== 'string' || !isUUID(from)) return true;
    const source = await this.repository.load(Account, canonicalUuid(from));
    if (source.status) await assertOwner(this.resolver, request, [source.ownerId]);
    return true;
  }
}
