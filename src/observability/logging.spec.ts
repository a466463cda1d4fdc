import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pinoHttp } from 'pino-http';
import { requestLogLevel, requestLogOptions } from './logging.js';

describe('requestLogLevel', () => {
  it.each([
    [200, undefined, 'info'],
    [201, undefined, 'info'],
    [400, undefined, 'warn'],
    [404, undefined, 'warn'],
    [422, undefined, 'warn'],
    [500, undefined, 'error'],
    [500, new Error('failed with status code 500'), 'error'],
    // A stale read model, the database out of reach, a shutdown: the client retries.
    [503, new Error('failed with status code 503'), 'warn'],
    [502, undefined, 'error'],
  ] as const)('logs a %i response (error %p) at %s', (status, error, level) => {
    expect(requestLogLevel(status, error)).toBe(level);
  });
});

describe('the line pino-http writes for a request', () => {
  const lines: Record<string, unknown>[] = [];
  let server: Server;
  let url: string;

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()));
        done();
      },
    });
    const log = pinoHttp(requestLogOptions('log'), sink);
    // Answers with the status its path names.
    server = createServer((req, res) => {
      log(req, res);
      res.statusCode = Number(req.url!.slice(1));
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  const lineFor = async (status: number) => {
    lines.length = 0;
    await (await fetch(`${url}/${status}`, { headers: { 'x-correlation-id': 'c-1' } })).text();
    for (let i = 0; i < 100 && lines.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(lines).toHaveLength(1);
    return lines[0];
  };

  it('is a warning without an error object for a 503', async () => {
    const line = await lineFor(503);
    expect(line).toMatchObject({
      level: 40,
      correlationId: 'c-1',
      res: { statusCode: 503 },
      msg: 'request answered 503: retry',
    });
    expect(line).not.toHaveProperty('err');
  });

  it('is an error with its error object for a 500', async () => {
    const line = await lineFor(500);
    expect(line).toMatchObject({ level: 50, msg: 'request errored', res: { statusCode: 500 } });
    expect(line.err).toMatchObject({ message: 'failed with status code 500' });
  });

  it('is info for a 201 and a warning for a 404', async () => {
    expect(await lineFor(201)).toMatchObject({ level: 30, msg: 'request completed' });
    expect(await lineFor(404)).toMatchObject({ level: 40 });
  });
});
