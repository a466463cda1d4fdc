import {
  Inject,
  Injectable,
  Optional,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { isUUID } from 'class-validator';
import type { Request } from 'express';
import { assertOwner, OWNER_RESOLVER, type OwnerResolver } from '../../common/http/ownership.js';
import { canonicalUuid } from '../../common/http/validation.js';
import { AggregateRepository } from '../../event-sourcing/index.js';
import { Account } from '../domain/account.aggregate.js';

/**
 * With an OwnerResolver: `/accounts/:id...` only for the account's owner, `POST /accounts` and
 * `GET /accounts?ownerId=` only for the caller's own ownerId. Unknown or malformed ids pass
 * through, so they get their usual 404 or 400.
 */
@Injectable()
export class AccountOwnerGuard implements CanActivate {
  constructor(
    private readonly repository: AggregateRepository,
    @Optional() @Inject(OWNER_RESOLVER) private readonly resolver?: OwnerResolver,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (!this.resolver) return true;
    const request = context.switchToHttp().getRequest<Request>();
    const id = request.params.id;
    if (typeof id === 'string') {
      if (!isUUID(id)) return true;
      const account = await this.repository.load(Account, canonicalUuid(id));
      if (account.status) await assertOwner(this.resolver, request, [account.ownerId]);
      return true;
    }
    const claimed = request.method === 'POST' ? request.body?.ownerId : request.query.ownerId;
    if (typeof claimed === 'string') await assertOwner(this.resolver, request, [claimed]);
    return true;
  }
}
