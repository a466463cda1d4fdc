import { describe, expect, it } from '@jest/globals';
import type { EventStore, LogCheckpoint, LogEvent } from '../event-store.js';
import { SharedLogReader } from './shared-log-reader.js';

/** A log of `size` events in transactions 9, 10, 11...; readAll answers from it and counts calls. */
function fakeLog(size: number) {
  const log: LogEvent[] = Array.from({ length: size }, (_, i) => ({
    transactionId: String(9 + i),
    position: i + 1,
    eventId: `e${i}`,
    streamId: 's',
    version: i,
    type: 'Happened',
    schemaVersion: 1,
    data: {},
    metadata: {},
    recordedAt: new Date(0),
  }));
  const reads: LogCheckpoint[] = [];
  const after = (a: LogCheckpoint, e: LogEvent) =>
    BigInt(e.transactionId) > BigInt(a.transactionId) ||
    (e.transactionId === a.transactionId && e.position > a.position);
  const store = {
    readAll: (from: LogCheckpoint, limit: number) => {
      reads.push(from);
      return Promise.resolve(log.filter((e) => after(from, e)).slice(0, limit));
    },
  } as unknown as EventStore;
  return { log, reads, reader: new SharedLogReader(store) };
}

const at = (e: LogEvent): LogCheckpoint => ({
  transactionId: e.transactionId,
  position: e.position,
});
const START: LogCheckpoint = { transactionId: '0', position: 0 };
const db = { query: () => Promise.reject(new Error('not used')) };

describe('SharedLogReader', () => {
  it('reads once for runners at the same checkpoint, also while the read is in flight', async () => {
    const { reads, reader, log } = fakeLog(5);
    const [a, b] = await Promise.all([reader.read(START, 10, db), reader.read(START, 10, db)]);
    const c = await reader.read(START, 10, db);
    expect(reads).toHaveLength(1);
    expect(a).toEqual({ events: log, shared: false });
    expect(b).toEqual({ events: log, shared: true });
    expect(c).toEqual({ events: log, shared: true });
  });

  it('serves a runner further on from the same page, compared in log order', async () => {
    const { reads, reader, log } = fakeLog(12); // transaction ids 9..20: "10" comes after "9"
    await reader.read(START, 100, db);
    expect((await reader.read(at(log[0]), 100, db)).events).toEqual(log.slice(1));
    expect((await reader.read(at(log[9]), 2, db)).events).toEqual(log.slice(10, 12));
    expect(reads).toHaveLength(1);
  });

  it('reads again for a runner behind every page', async () => {
    const { reads, reader, log } = fakeLog(10);
    await reader.read(at(log[2]), 4, db); // events 3..6
    expect(await reader.read(START, 4, db)).toEqual({ events: log.slice(0, 4), shared: false });
    expect(reads).toEqual([at(log[2]), START]);
  });

  it('serves a runner behind the others from the pages that follow on, up to its batch', async () => {
    const { reads, reader, log } = fakeLog(10);
    await reader.read(START, 3, db); // events 0..2
    await reader.read(at(log[2]), 3, db); // 3..5
    await reader.read(at(log[5]), 3, db); // 6..8
    expect(await reader.read(at(log[0]), 7, db)).toEqual({ events: log.slice(1, 8), shared: true });
    // A short answer is still an answer; `shared` tells the runner to ask again before idling.
    expect(await reader.read(at(log[6]), 10, db)).toEqual({
      events: log.slice(7, 9),
      shared: true,
    });
    expect(reads).toHaveLength(3);
  });

  it('reads again at the end of every page: new events may be there', async () => {
    const { reads, reader, log } = fakeLog(3);
    await reader.read(START, 10, db);
    expect(await reader.read(at(log[2]), 10, db)).toEqual({ events: [], shared: false });
    expect(reads).toHaveLength(2);
  });

  it("reads itself when another runner's read does not answer within a second", async () => {
    let calls = 0;
    const hanging = {
      readAll: () => (++calls === 1 ? new Promise(() => undefined) : Promise.resolve([])),
    } as unknown as EventStore;
    const reader = new SharedLogReader(hanging);
    void reader.read(START, 10, db); // never answers
    await expect(reader.read(START, 10, db)).resolves.toEqual({ events: [], shared: false });
    expect(calls).toBe(2);
  });

  it('does not reuse a failed read', async () => {
    let calls = 0;
    const failing = {
      readAll: () => (++calls === 1 ? Promise.reject(new Error('gone')) : Promise.resolve([])),
    } as unknown as EventStore;
    const reader = new SharedLogReader(failing);
    const first = reader.read(START, 10, db);
    const second = reader.read(START, 10, db);
    await expect(first).rejects.toThrow('gone');
    await expect(second).resolves.toEqual({ events: [], shared: false });
    expect(calls).toBe(2);
  });
});
