import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import type { ServerMode } from './server.js';

const SERVER = fileURLToPath(new URL('./server.ts', import.meta.url));

export interface Server {
  port: number;
  stop(): Promise<void>;
}

/** Starts bench/http/server.ts in a child process (same loader flags as this one). */
export async function startServer(mode: ServerMode, databaseUrl: string): Promise<Server> {
  const child = fork(SERVER, [mode], {
    env: { ...process.env, BENCH_DATABASE_URL: databaseUrl },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${mode} server did not start`)), 60_000);
    child.once('message', (m: { port: number }) => {
      clearTimeout(timer);
      resolve(m.port);
    });
    void exited.then((code) => reject(new Error(`${mode} server exited with ${code}`)));
  }).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  return {
    port,
    async stop() {
      if (child.exitCode !== null) return;
      child.send('stop');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Waits until every projection's checkpoint is at or past the last event; returns the ms. */
export async function waitCaughtUp(raw: pg.Pool, timeoutMs: number): Promise<number> {
  const start = performance.now();
  for (;;) {
    const { rows } = await raw.query<{ behind: number }>(
      `SELECT count(*)::int AS behind FROM projection_checkpoints c, events e
       WHERE e.global_position = (SELECT max(global_position) FROM events)
         AND (e.transaction_id, e.global_position) > (c.transaction_id, c.global_position)`,
    );
    if (rows[0].behind === 0) return performance.now() - start;
    if (performance.now() - start > timeoutMs) throw new Error('projections did not catch up');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
