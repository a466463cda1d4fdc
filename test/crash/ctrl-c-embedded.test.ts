/**
 * `npm start` without DATABASE_URL, stopped by Ctrl-C in its terminal: the terminal sends SIGINT
 * to the whole foreground process group. The embedded PostgreSQL server must not be in it: it
 * would shut down fast at once, terminating the sessions the app's own shutdown still uses (the
 * app logged "terminating connection due to administrator command" for its batches in flight).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  call,
  cleanUpAppProcesses,
  openAccounts,
  prepareAppBuild,
  runPool,
  startAppProcess,
} from '../support/process.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The process group of a process (Linux: the 5th field of /proc/<pid>/stat, after the name). */
const processGroup = async (pid: number) =>
  Number((await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ')[2]);

describe('Ctrl-C on the app with its embedded database', () => {
  let dataDir: string;
  let serverPid = 0;

  beforeAll(async () => {
    await prepareAppBuild();
    dataDir = await mkdtemp(join(tmpdir(), 'tally-ctrl-c-'));
  }, 600_000);

  afterAll(async () => {
    await cleanUpAppProcesses();
    // Whatever the test reached: a server it started is stopped before its folder goes.
    const pidFile = await readFile(join(dataDir, 'pg', 'postmaster.pid'), 'utf8').catch(() => '');
    serverPid ||= Number(pidFile.split('\n')[0]);
    if (serverPid && alive(serverPid)) process.kill(serverPid, 'SIGINT');
    for (let i = 0; i < 100 && serverPid && alive(serverPid); i++) {
      await new Promise((done) => setTimeout(done, 100));
    }
    await rm(dataDir, { recursive: true, force: true });
  }, 30_000);

  it('stops both, no session of the app terminated, while deposits are in flight', async () => {
    const app = await startAppProcess({
      databaseUrl: undefined,
      env: { DATA_DIR: dataDir, LOG_LEVEL: 'info' },
      detached: true,
      readyTimeoutMs: 120_000,
    });
    serverPid = Number(
      (await readFile(join(dataDir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[0],
    );
    expect(alive(serverPid)).toBe(true);
    // Not in the group a terminal's Ctrl-C signals.
    expect(await processGroup(serverPid)).not.toBe(await processGroup(app.child.pid!));

    const accounts = await openAccounts(app.baseUrl, 4);
    let stop = false;
    let answered = 0;
    const clients = Array.from({ length: 8 }, (_, i) => i);
    const load = runPool(clients, 8, async (i) => {
      for (let k = 0; !stop && !app.hasExited(); k++) {
        const res = await call(app.baseUrl, 'POST', `/accounts/${accounts[(i + k) % 4]}/deposits`, {
          body: { amount: 1 },
          timeoutMs: 5_000,
        }).catch(() => undefined);
        if (res?.status === 201) answered += 1;
      }
    });
    await new Promise((done) => setTimeout(done, 500));
    // Deposits are flowing when the signal comes.
    expect(answered).toBeGreaterThan(0);
    // What a terminal does on Ctrl-C: SIGINT to every process of the foreground group.
    process.kill(-app.child.pid!, 'SIGINT');
    const exit = await app.waitForExit(15_000);
    stop = true;
    await load;
    expect(exit).toEqual({ code: 0, signal: null });
    for (let i = 0; i < 50 && alive(serverPid); i++) {
      await new Promise((done) => setTimeout(done, 100));
    }
    expect(alive(serverPid)).toBe(false);
    expect(app.output()).not.toMatch(/administrator command|terminating connection/);
  }, 180_000);
});
