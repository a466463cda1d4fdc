/**
 * The compiled app as a real child process (`node dist/main.js`), for crash tests: it can be
 * killed with SIGKILL or stopped with SIGTERM, then started again on the same database.
 *
 * Build: `prepareAppBuild()` runs `npm run build` when dist/main.js is missing or older than the
 * sources (under a lock shared by the Jest workers, retried a few times when a concurrent edit of
 * src/ breaks it briefly), then copies dist/ into a private temporary folder. The children run
 * that copy, so a later rebuild of dist/ (another test file, another developer) cannot pull the
 * files from under a restart. TALLY_CRASH_APP_MAIN=/path/to/main.js runs that build instead.
 *
 * HTTP: Node's fetch, loopback only, every call and every loop bounded in time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: this file is test/support/process.ts. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIST_MAIN = join(ROOT, 'dist', 'main.js');
const BUILD_INPUTS = ['src', 'migrations', 'ormconfig.ts', 'tsconfig.json', 'tsconfig.build.json'];
const LOCK_DIR = join(tmpdir(), 'tally-crash-build.lock');

const pause = (ms: number) => new Promise((done) => setTimeout(done, ms));

// ---------------------------------------------------------------------------------------------
// Build

async function newestSourceMtime(path: string): Promise<number> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return 0;
  if (!info.isDirectory()) return path.endsWith('.spec.ts') ? 0 : info.mtimeMs;
  let newest = 0;
  for (const entry of await readdir(path)) {
    newest = Math.max(newest, await newestSourceMtime(join(path, entry)));
  }
  return newest;
}

/** dist/main.js exists and is at least as new as every build input (postbuild writes it last). */
async function distIsFresh(): Promise<boolean> {
  const built = await stat(DIST_MAIN).catch(() => undefined);
  if (!built || !(await stat(join(ROOT, 'dist', 'src', 'main.js')).catch(() => undefined))) {
    return false;
  }
  let newest = 0;
  for (const input of BUILD_INPUTS) {
    newest = Math.max(newest, await newestSourceMtime(join(ROOT, input)));
  }
  return built.mtimeMs >= newest;
}

function run(
  command: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; output: string }> {
  return new Promise((done) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20_000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      done({ code: null, output: output + String(error) });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, output });
    });
  });
}

/** A cross-process lock (mkdir is atomic); a lock whose owner died is taken over. */
async function withBuildLock<T>(work: () => Promise<T>, timeoutMs = 600_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await mkdir(LOCK_DIR);
      await writeFile(join(LOCK_DIR, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw error;
      const owner = Number(await readFile(join(LOCK_DIR, 'pid'), 'utf8').catch(() => 'NaN'));
      const age = Date.now() - ((await stat(LOCK_DIR).catch(() => undefined))?.mtimeMs ?? 0);
      let alive = true;
      try {
        if (Number.isInteger(owner) && owner > 0) process.kill(owner, 0);
        else alive = age < 10_000; // being created right now, or abandoned before the pid
      } catch (probe) {
        alive = (probe as { code?: string }).code === 'EPERM';
      }
      const stillSame = async () =>
        String(owner) === (await readFile(join(LOCK_DIR, 'pid'), 'utf8').catch(() => 'NaN'));
      if (!alive && (await stillSame())) await rm(LOCK_DIR, { recursive: true, force: true });
      else if (Date.now() > deadline) {
        throw new Error(`build lock ${LOCK_DIR} still held by pid ${owner}`, { cause: error });
      } else await pause(250);
    }
  }
  try {
    return await work();
  } finally {
    await rm(LOCK_DIR, { recursive: true, force: true });
  }
}

let prepared: Promise<string> | undefined;
const snapshots: string[] = [];

/**
 * Makes sure dist/ is built from the current sources and returns the path of the main.js to run:
 * a private copy of dist/. Once per test file (memoised).
 */
export function prepareAppBuild(): Promise<string> {
  // TALLY_CRASH_APP_MAIN=/path/to/main.js runs an already built app instead (no build, no copy).
  const given = process.env.TALLY_CRASH_APP_MAIN;
  if (given) return stat(given).then(() => resolve(given));
  prepared ??= withBuildLock(async () => {
    const attempts = 5;
    for (let attempt = 1; !(await distIsFresh()); attempt++) {
      const { code, output } = await run('npm', ['run', 'build'], 300_000);
      // A source edited during the build leaves dist/ "stale" but coherent: use it.
      if (code === 0) break;
      // Someone may be editing src/ right now: a broken build is retried a few times.
      if (attempt >= attempts) {
        throw new Error(`npm run build failed ${attempts} times; last output:\n${output}`);
      }
      await pause(5_000 * attempt);
    }
    const dir = await mkdtemp(join(tmpdir(), 'tally-crash-app-'));
    snapshots.push(dir);
    await cp(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
    // The copy resolves packages from the repository and is ESM like it.
    await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    const main = join(dir, 'dist', 'main.js');
    await stat(join(dir, 'dist', 'src', 'main.js')); // a complete copy, or fail here
    return main;
  });
  prepared.catch(() => (prepared = undefined));
  return prepared;
}

// ---------------------------------------------------------------------------------------------
// Child processes

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface AppProcess {
  /** `http://127.0.0.1:<port>` */
  readonly baseUrl: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Resolves when the process has exited. */
  readonly exited: Promise<ExitStatus>;
  hasExited(): boolean;
  /** The last 64 kB the process wrote to stdout and stderr. */
  output(): string;
  /** SIGKILL, then waits (bounded) for the exit. */
  kill(): Promise<ExitStatus>;
  /** Waits up to `timeoutMs` for the exit; undefined when the process is still running. */
  waitForExit(timeoutMs: number): Promise<ExitStatus | undefined>;
}

const live = new Set<AppProcess>();
let exitHookInstalled = false;

/**
 * Ports for this Jest worker's apps: a range of its own, below the ephemeral ports. A port the
 * system picked (bind port 0, release) could go to another worker's app in the moment before
 * ours binds it; ours then failed to start, and the readiness poll had already been answered by
 * the other app, so the test talked to that app and its database.
 */
const PORTS_PER_WORKER = 400;
let nextPort = 0;

/** A free loopback port from this worker's range (see above). */
export async function freePort(): Promise<number> {
  const base = 20_000 + Number(process.env.JEST_WORKER_ID ?? 0) * PORTS_PER_WORKER;
  for (let tries = 0; tries < PORTS_PER_WORKER; tries++) {
    const port = base + (nextPort++ % PORTS_PER_WORKER);
    if (await canBind(port)) return port;
  }
  throw new Error(`no free port in ${base}-${base + PORTS_PER_WORKER - 1}`);
}

function canBind(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.unref();
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });
}

/**
 * Starts `node dist/main.js` (the private copy) on `databaseUrl` and a free loopback port, and
 * waits (bounded) until GET /health answers 200. Fails with the child's output if it exits or
 * does not get ready in time.
 */
export async function startAppProcess(options: {
  /** Undefined: the embedded database (give `DATA_DIR` in `env`). */
  databaseUrl: string | undefined;
  env?: Record<string, string>;
  readyTimeoutMs?: number;
  /** In a process group of its own, as a command run in a terminal is (Ctrl-C reaches all of it). */
  detached?: boolean;
}): Promise<AppProcess> {
  const main = await prepareAppBuild();
  const port = await freePort();
  const child = spawn(process.execPath, [main], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      ...options.env,
      ...(options.databaseUrl === undefined ? {} : { DATABASE_URL: options.databaseUrl }),
      PORT: String(port),
      LOG_LEVEL: options.env?.LOG_LEVEL ?? 'warn',
    },
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-65_536);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let exitStatus: ExitStatus | undefined;
  const exited = new Promise<ExitStatus>((done) => {
    child.on('exit', (code, signal) => {
      exitStatus = { code, signal };
      done(exitStatus);
    });
    child.on('error', (error) => {
      collect(Buffer.from(`spawn error: ${error}\n`));
      exitStatus ??= { code: null, signal: null };
      done(exitStatus);
    });
  });
  const waitForExit = async (timeoutMs: number) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((done) => {
      timer = setTimeout(() => done(undefined), timeoutMs);
    });
    try {
      return await Promise.race([exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
  const app: AppProcess = {
    baseUrl: `http://127.0.0.1:${port}`,
    port,
    child,
    exited,
    hasExited: () => exitStatus !== undefined,
    output: () => output,
    waitForExit,
    kill: async () => {
      if (!exitStatus) child.kill('SIGKILL');
      const status = await waitForExit(10_000);
      if (!status) throw new Error(`pid ${child.pid} did not die on SIGKILL within 10 s`);
      return status;
    },
  };
  live.add(app);
  void exited.then(() => live.delete(app));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Last resort when the test worker goes away without afterAll.
    process.once('exit', () => {
      for (const each of live) each.child.kill('SIGKILL');
    });
  }

  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  for (let attempt = 0; ; attempt++) {
    if (exitStatus) {
      throw new Error(
        `the app exited before it was ready (${JSON.stringify(exitStatus)}):\n${output}`,
      );
    }
    const res = await call(app.baseUrl, 'GET', '/health', { timeoutMs: 2_000 }).catch(
      () => undefined,
    );
    if (res?.status === 200) return app;
    if (Date.now() > deadline) {
      await app.kill().catch(() => undefined);
      throw new Error(`the app was not ready after ${attempt + 1} polls of /health:\n${output}`);
    }
    await pause(100);
  }
}

/** SIGKILLs every child this file started that is still running, and waits for them. */
export async function stopAllAppProcesses(): Promise<void> {
  await Promise.all([...live].map((app) => app.kill().catch(() => undefined)));
}

/** stopAllAppProcesses, then removes the private copies of dist/. For afterAll. */
export async function cleanUpAppProcesses(): Promise<void> {
  await stopAllAppProcesses();
  for (const dir of snapshots.splice(0)) await rm(dir, { recursive: true, force: true });
  prepared = undefined;
}

// ---------------------------------------------------------------------------------------------
// HTTP

export interface HttpResult {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

/** One request with Node's fetch; throws on a network error or after `timeoutMs`. */
export async function call(
  baseUrl: string,
  method: 'GET' | 'POST',
  path: string,
  options: { body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<HttpResult> {
  const res = await fetch(baseUrl + path, {
    method,
    headers: {
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...options.headers,
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body };
}

/**
 * A GET that must answer 200, for the checks after a restart: a network error or a 503 (a read
 * model still catching up: STALE_READ_MODEL) is retried until `timeoutMs`.
 */
export async function getOk(
  baseUrl: string,
  path: string,
  timeoutMs = 30_000,
): Promise<HttpResult> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    let last: string;
    try {
      const res = await call(baseUrl, 'GET', path, { timeoutMs: 10_000 });
      if (res.status === 200) return res;
      if (res.status !== 503) {
        throw new Error(`GET ${path} answered ${res.status} ${JSON.stringify(res.body)}`);
      }
      last = `503 ${JSON.stringify(res.body)}`;
    } catch (error) {
      if (String(error).includes(' answered ')) throw error;
      last = String(error);
    }
    if (Date.now() > deadline) throw new Error(`GET ${path}: ${attempt} tries, last: ${last}`);
    await pause(Math.min(50 * attempt, 500));
  }
}

/**
 * Runs `work` over `items` with at most `concurrency` calls at a time, in order, until every item
 * was taken or `stop()` says so (checked before each item).
 */
export async function runPool<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<void>,
  stop: () => boolean = () => false,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length && !stop()) {
      const index = next++;
      await work(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

// ---------------------------------------------------------------------------------------------
// Reading an account back

export interface StoredAccountEvent {
  version: number;
  position: number;
  type: string;
  data: { amount?: number; initialDeposit?: number; transferId?: string };
}

/** GET /accounts/:id/events (the event store itself). */
export async function accountEvents(
  baseUrl: string,
  accountId: string,
): Promise<StoredAccountEvent[]> {
  return (await getOk(baseUrl, `/accounts/${accountId}/events`)).body.items;
}

/** Opens `count` accounts (a few at a time) and returns their ids in order. */
export async function openAccounts(
  baseUrl: string,
  count: number,
  body: { initialDeposit?: number; currency?: string } = {},
): Promise<string[]> {
  const ids: string[] = new Array(count);
  await runPool(
    Array.from({ length: count }, (_, i) => i),
    10,
    async (i) => {
      const res = await call(baseUrl, 'POST', '/accounts', {
        body: { ownerId: `crash-owner-${i}`, ...body },
      });
      if (res.status !== 201) {
        throw new Error(`POST /accounts answered ${res.status} ${JSON.stringify(res.body)}`);
      }
      ids[i] = res.body.accountId;
    },
  );
  return ids;
}

/** Balance of a stream by folding its events. */
export function foldBalance(events: StoredAccountEvent[]): number {
  let balance = 0;
  for (const e of events) {
    if (e.type === 'AccountOpened') balance += e.data.initialDeposit ?? 0;
    else if (e.type === 'MoneyDeposited') balance += e.data.amount ?? 0;
    else if (e.type === 'MoneyWithdrawn') balance -= e.data.amount ?? 0;
  }
  return balance;
}

/**
 * Problems of one account's stream and read models: versions not contiguous from 0, and (read at
 * `minPosition`, at least the last position of the stream) a summary whose balance or version is
 * not the fold of the stream, or a statement that is not one line per money event.
 */
export async function checkAccount(
  baseUrl: string,
  accountId: string,
  events: StoredAccountEvent[],
  minPosition: number,
): Promise<string[]> {
  const problems: string[] = [];
  const versions = events.map((e) => e.version);
  if (versions.some((v, i) => v !== i)) {
    problems.push(`${accountId}: versions not contiguous from 0: ${versions.join(',')}`);
  }
  if (events[0]?.type !== 'AccountOpened') {
    problems.push(`${accountId}: first event is ${events[0]?.type}`);
  }
  const balance = foldBalance(events);
  const last = events.at(-1)?.version ?? -1;

  const summary = (await getOk(baseUrl, `/accounts/${accountId}?minPosition=${minPosition}`)).body;
  if (summary.balance !== balance || summary.version !== last) {
    problems.push(
      `${accountId}: summary balance ${summary.balance} version ${summary.version}, stream folds to ${balance} at version ${last}`,
    );
  }
  const state = (await getOk(baseUrl, `/accounts/${accountId}/state`)).body;
  if (state.balance !== balance || state.version !== last) {
    problems.push(
      `${accountId}: state balance ${state.balance} version ${state.version}, stream folds to ${balance} at version ${last}`,
    );
  }

  type Line = {
    version: number;
    type: string;
    amount: number;
    balanceAfter: number;
    transferId?: string;
  };
  const expected: Line[] = [];
  let running = 0;
  for (const e of events) {
    if (e.type === 'AccountOpened' && (e.data.initialDeposit ?? 0) > 0) {
      running += e.data.initialDeposit ?? 0;
      expected.push({
        version: e.version,
        type: 'credit',
        amount: e.data.initialDeposit ?? 0,
        balanceAfter: running,
      });
    } else if (e.type === 'MoneyDeposited' || e.type === 'MoneyWithdrawn') {
      const credit = e.type === 'MoneyDeposited';
      running += credit ? (e.data.amount ?? 0) : -(e.data.amount ?? 0);
      expected.push({
        version: e.version,
        type: credit ? 'credit' : 'debit',
        amount: e.data.amount ?? 0,
        balanceAfter: running,
        ...(e.data.transferId ? { transferId: e.data.transferId } : {}),
      });
    }
  }
  const lines: Line[] = [];
  let after: number | null = null;
  for (let page = 0; page < 200; page++) {
    const query: string = `limit=500&minPosition=${minPosition}${after === null ? '' : `&after=${after}`}`;
    const body = (await getOk(baseUrl, `/accounts/${accountId}/transactions?${query}`)).body;
    for (const line of body.items) {
      lines.push({
        version: line.version,
        type: line.type,
        amount: line.amount,
        balanceAfter: line.balanceAfter,
        ...(line.transferId ? { transferId: line.transferId } : {}),
      });
    }
    after = body.next;
    if (after === null) break;
  }
  if (JSON.stringify(lines) !== JSON.stringify(expected)) {
    problems.push(
      `${accountId}: statement has ${lines.length} lines ${JSON.stringify(lines.slice(0, 5))}..., the stream has ${expected.length} money events ${JSON.stringify(expected.slice(0, 5))}...`,
    );
  }
  return problems;
}
