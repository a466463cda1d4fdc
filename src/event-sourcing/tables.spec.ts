import { describe, expect, it } from '@jest/globals';
import { EventSourcingModule } from './event-sourcing.module.js';
import { resolveOptions } from './options.js';
import { assertSchemaName, eventStoreTables } from './tables.js';

describe('eventStoreTables', () => {
  it('gives the unqualified names without a schema', () => {
    expect(eventStoreTables()).toEqual({
      events: 'events',
      checkpoints: 'projection_checkpoints',
      snapshots: 'snapshots',
      parked: 'parked_events',
    });
  });

  it('qualifies and quotes the names with a schema', () => {
    expect(eventStoreTables('tally')).toEqual({
      events: '"tally"."events"',
      checkpoints: '"tally"."projection_checkpoints"',
      snapshots: '"tally"."snapshots"',
      parked: '"tally"."parked_events"',
    });
  });

  it.each(['tally', '_es', 'tally_2', 'a'])('accepts the plain identifier %j', (schema) => {
    expect(() => assertSchemaName(schema)).not.toThrow();
  });

  it.each(['', 'Tally', '2tally', 'tally-es', 'tally.es', '"tally"', 'tally; DROP TABLE events'])(
    'refuses %j with a clear message',
    (schema) => {
      expect(() => eventStoreTables(schema)).toThrow(
        /^event store schema must be a plain lower-case identifier matching/,
      );
    },
  );

  it('is checked when the module options are resolved', () => {
    expect(resolveOptions({ schema: 'tally' }).schema).toBe('tally');
    expect(resolveOptions().schema).toBeUndefined();
    expect(() => EventSourcingModule.forRoot({ schema: 'Tally' })).toThrow(/plain lower-case/);
  });
});
