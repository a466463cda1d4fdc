import { describe, expect, it } from '@jest/globals';
import { AppendBatcher } from './append-batcher.js';

interface Request {
  streamId: string;
  events: string[];
}

/**
 * A batcher whose batches are recorded and end when the test says: `finish(k)` answers every
 * append of the k-th batch sent with its stream and events, `fail(k, error)` rejects them all.
 */
function harness(limits = { inFlight: 2, events: 1000, slowAfterMs: 60_000 }) {
  const sent: { requests: Request[]; end: (error?: Error) => void }[] = [];
  const batcher = new AppendBatcher<Request, string>((requests) => {
    let end!: (error?: Error) => void;
    const done = new Promise<void>((resolve, reject) => {
      end = (error) => (error ? reject(error) : resolve());
    });
    sent.push({ requests, end });
    return requests.map(async (r) => {
      await done;
      return `${r.streamId}:${r.events.join('+')}`;
    });
  }, limits);
  const batches = () => sent.map((b) => b.requests.map((r) => `${r.streamId}:${r.events}`));
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  const finish = async (k: number) => {
    sent[k].end();
    await settle();
  };
  const fail = async (k: number, error: Error) => {
    sent[k].end(error);
    await settle();
  };
  const add = (streamId: string, ...events: string[]) => batcher.add({ streamId, events });
  return { add, batches, finish, fail, settle };
}

describe('AppendBatcher', () => {
  it('sends an append at once while fewer batches than the limit are in flight', async () => {
    const { add, batches, finish } = harness();
    const a = add('s1', 'a');
    const b = add('s2', 'b');
    expect(batches()).toEqual([['s1:a'], ['s2:b']]);
    await finish(0);
    await finish(1);
    await expect(a).resolves.toBe('s1:a');
    await expect(b).resolves.toBe('s2:b');
  });

  it('sends what waited as one batch as soon as a batch in flight ends', async () => {
    const { add, batches, finish } = harness();
    add('s1', 'a');
    add('s2', 'b');
    const waiting = [add('s3', 'c'), add('s4', 'd'), add('s5', 'e')];
    expect(batches()).toHaveLength(2);
    await finish(1);
    expect(batches()[2]).toEqual(['s3:c', 's4:d', 's5:e']);
    await finish(2);
    await expect(Promise.all(waiting)).resolves.toEqual(['s3:c', 's4:d', 's5:e']);
  });

  it('sends an append to a stream that has one waiting or in flight alone, at once', async () => {
    const { add, batches, finish } = harness();
    const first = add('s1', 'a');
    add('s2', 'b');
    const waiting = add('s3', 'c');
    // Both places are taken, yet these go at once: s1 is in flight, s3 waits.
    const second = add('s1', 'd');
    const third = add('s3', 'e');
    expect(batches()).toEqual([['s1:a'], ['s2:b'], ['s1:d'], ['s3:e']]);
    await finish(0);
    expect(batches()[4]).toEqual(['s3:c']);
    for (const k of [1, 2, 3, 4]) await finish(k);
    await expect(Promise.all([first, second, waiting, third])).resolves.toEqual([
      's1:a',
      's1:d',
      's3:c',
      's3:e',
    ]);
  });

  it('batches a stream again once its append has its answer', async () => {
    const { add, batches, finish } = harness({ inFlight: 1, events: 1000, slowAfterMs: 60_000 });
    add('s0', 'x');
    add('s1', 'a');
    await finish(0);
    await finish(1);
    add('s0', 'y');
    add('s1', 'b');
    expect(batches()).toEqual([['s0:x'], ['s1:a'], ['s0:y']]);
    await finish(2);
    expect(batches()[3]).toEqual(['s1:b']);
  });

  it('stops counting a batch still in flight after slowAfterMs against the limit', async () => {
    const { add, batches } = harness({ inFlight: 1, events: 1000, slowAfterMs: 20 });
    add('s1', 'a');
    add('s2', 'b');
    expect(batches()).toEqual([['s1:a']]);
    await new Promise((resolve) => setTimeout(resolve, 60));
    // The first batch never ended: the second went all the same.
    expect(batches()).toEqual([['s1:a'], ['s2:b']]);
  });

  it('caps a batch by its events; an append larger than the cap goes alone', async () => {
    const { add, batches, finish } = harness({ inFlight: 1, events: 3, slowAfterMs: 60_000 });
    add('s0', 'x');
    add('s1', 'a', 'b');
    add('s2', 'c', 'd');
    add('s3', 'e', 'f', 'g', 'h');
    add('s4', 'i');
    await finish(0);
    // s2 does not fit beside s1; s4 does.
    expect(batches()[1]).toEqual(['s1:a,b', 's4:i']);
    await finish(1);
    expect(batches()[2]).toEqual(['s2:c,d']);
    await finish(2);
    expect(batches()[3]).toEqual(['s3:e,f,g,h']);
  });

  it("rejects a failed batch's appends, and goes on with the next", async () => {
    const { add, batches, fail, finish } = harness({
      inFlight: 1,
      events: 1000,
      slowAfterMs: 60_000,
    });
    const lost = add('s1', 'a');
    const waiting = add('s2', 'b');
    await fail(0, new Error('connection lost'));
    await expect(lost).rejects.toThrow('connection lost');
    expect(batches()[1]).toEqual(['s2:b']);
    await finish(1);
    await expect(waiting).resolves.toBe('s2:b');
  });

  it('rejects the appends of a batch whose send throws, and goes on', async () => {
    let calls = 0;
    const batcher = new AppendBatcher<Request, string>((requests) => {
      if (calls++ === 0) throw new Error('cannot send');
      return requests.map((r) => Promise.resolve(r.streamId));
    });
    await expect(batcher.add({ streamId: 's1', events: ['a'] })).rejects.toThrow('cannot send');
    await expect(batcher.add({ streamId: 's1', events: ['b'] })).resolves.toBe('s1');
  });
});
