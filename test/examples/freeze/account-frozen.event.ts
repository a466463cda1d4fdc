import { DomainEvent } from '../../../src/event-sourcing/index.js';

/** A new fact in the account's stream, under a stable stored name. */
@DomainEvent('AccountFrozen')
export class AccountFrozen {
  constructor(
    readonly accountId: string,
    readonly reason: string,
  ) {}
}
