import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

export interface Response {
  status: number;
  body: string;
}

/** A keep-alive HTTP client for one loopback server. */
export class Client {
  private readonly agent: Agent;

  constructor(
    private readonly port: number,
    sockets: number,
  ) {
    // With a timeout set, the agent closes an idle socket a second before the server's keep-alive
    // timeout (it reads the server's Keep-Alive header). Without one, a request could go out on a
    // socket the server is closing just then, and fail with ECONNRESET.
    this.agent = new Agent({ keepAlive: true, maxSockets: sockets, timeout: 60_000 });
  }

  post(path: string, payload: object): Promise<Response> {
    const body = JSON.stringify(payload);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: this.port,
          path,
          method: 'POST',
          agent: this.agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
          );
          res.on('error', reject);
        },
      );
      req.setTimeout(30_000, () => req.destroy(new Error(`POST ${path} timed out`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

export interface LoadResult {
  requests: number;
  errors: number;
  /** Status codes other than the expected one, with their counts. */
  statuses: Record<number, number>;
  perSecond: number;
  /** Latencies of every request, in ms. */
  latencies: number[];
}

/**
 * `clients` closed-loop clients, each sending its next request when the previous one answered,
 * for `durationMs` (and at most `maxRequests` in all).
 */
export async function closedLoop(options: {
  client: Client;
  clients: number;
  durationMs: number;
  maxRequests: number;
  next: (client: number, i: number) => { path: string; body: object };
  expect: number;
}): Promise<LoadResult> {
  const { client, clients, durationMs, maxRequests, next, expect } = options;
  const latencies: number[] = [];
  const statuses: Record<number, number> = {};
  let sent = 0;
  let errors = 0;
  const start = performance.now();
  const end = start + durationMs;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; performance.now() < end && sent < maxRequests; i++) {
        sent += 1;
        const { path, body } = next(c, i);
        const t = performance.now();
        const res = await client.post(path, body);
        latencies.push(performance.now() - t);
        if (res.status !== expect) {
          errors += 1;
          statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        }
      }
    }),
  );
  const ms = performance.now() - start;
  return {
    requests: latencies.length,
    errors,
    statuses,
    perSecond: (latencies.length / ms) * 1000,
    latencies,
  };
}

interface Probe {
  id: string;
  version: number;
  answeredAt: number;
}

/**
 * Samples the read-model lag while `running()`: every `intervalMs` a deposit over HTTP (open
 * loop, so a growing lag does not thin the samples out); a poller reads the versions of the
 * pending probes' accounts from `account_summaries` every millisecond. The lag is the time from
 * the command's response to the first read that shows its version.
 */
export async function probeLag(options: {
  client: Client;
  databaseUrl: string;
  accounts: string[];
  running: () => boolean;
  intervalMs: number;
  timeoutMs: number;
}): Promise<{ lags: number[]; timeouts: number }> {
  const { client, accounts, running, intervalMs, timeoutMs } = options;
  const pending: Probe[] = [];
  const lags: number[] = [];
  let timeouts = 0;
  let sending = true;
  let failure: unknown;
  const sender = (async () => {
    const sent: Promise<void>[] = [];
    try {
      for (let i = 0; running() && i < 100_000; i++) {
        const id = accounts[i % accounts.length];
        const probe = client.post(`/accounts/${id}/deposits`, { amount: 1 }).then((res) => {
          const answeredAt = performance.now();
          if (res.status !== 201)
            throw new Error(`probe deposit answered ${res.status}: ${res.body}`);
          const { version } = JSON.parse(res.body) as { version: number };
          pending.push({ id, version, answeredAt });
        });
        sent.push(probe.catch((error: unknown) => void (failure ??= error)));
        await sleep(intervalMs);
      }
      await Promise.all(sent);
    } finally {
      sending = false;
    }
  })();

  const db = new pg.Client({ connectionString: options.databaseUrl });
  await db.connect();
  try {
    while (sending || pending.length > 0) {
      if (pending.length > 0) {
        const { rows } = await db.query<{ id: string; version: number }>(
          'SELECT account_id AS id, version FROM account_summaries WHERE account_id = ANY($1::uuid[])',
          [[...new Set(pending.map((p) => p.id))]],
        );
        const now = performance.now();
        const versions = new Map(rows.map((r) => [r.id, r.version]));
        for (let i = pending.length - 1; i >= 0; i--) {
          const p = pending[i];
          if ((versions.get(p.id) ?? -1) >= p.version) lags.push(now - p.answeredAt);
          else if (now - p.answeredAt > timeoutMs) timeouts += 1;
          else continue;
          pending.splice(i, 1);
        }
      }
      await sleep(1);
    }
    await sender;
  } finally {
    await db.end();
  }
  if (failure) throw failure;
  return { lags, timeouts };
}
