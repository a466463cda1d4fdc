import { ForbiddenException, Global, Module, type DynamicModule } from '@nestjs/common';
import type { Request } from 'express';

/**
 * Who the caller is, as the host's authentication knows it: the `ownerId` whose accounts the
 * caller may use. Provide it to turn ownership checks on (they are off otherwise):
 *
 *   OwnershipModule.forRoot((request) => (request as { user?: { sub?: string } }).user?.sub)
 *
 * Return undefined for a caller with no owner identity: every owned resource is then refused.
 */
export type OwnerResolver = (request: Request) => string | undefined | Promise<string | undefined>;

export const OWNER_RESOLVER = Symbol('OWNER_RESOLVER');

/** Registers the host's {@link OwnerResolver} for every tally route. */
@Global()
@Module({})
export class OwnershipModule {
  static forRoot(resolver: OwnerResolver): DynamicModule {
    return {
      module: OwnershipModule,
      providers: [{ provide: OWNER_RESOLVER, useValue: resolver }],
      exports: [OWNER_RESOLVER],
    };
  }
}

/** Refuses with 403 FORBIDDEN unless the caller is `ownerId` (a no-op without a resolver). */
export async function assertOwner(
  resolver: OwnerResolver | undefined,
  request: Request,
  ownerIds: (string | undefined)[],
): Promise<void> {
  if (!resolver) return;
  const caller = await resolver(request);
  if (caller === undefined || !ownerIds.includes(caller)) {
    throw new ForbiddenException({
      code: 'FORBIDDEN',
      message: 'this account belongs to another owner',
    });
  }
}
