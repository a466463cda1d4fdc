import { EventStore1764200000000 } from './1764200000000-EventStore.js';
import { AccountReadModels1764200000001 } from './1764200000001-AccountReadModels.js';
import { Snapshots1764200000002 } from './1764200000002-Snapshots.js';
import { ParkedEvents1764200000003 } from './1764200000003-ParkedEvents.js';
import { TransferReadModel1764200000004 } from './1764200000004-TransferReadModel.js';
import { IdempotencyKeys1764200000005 } from './1764200000005-IdempotencyKeys.js';

/** Every migration, in order. Listed, not globbed: the same under node, nest build and Jest. */
export const migrations = [
  EventStore1764200000000,
  AccountReadModels1764200000001,
  Snapshots1764200000002,
  ParkedEvents1764200000003,
  TransferReadModel1764200000004,
  IdempotencyKeys1764200000005,
];
