/** Configuration read from the environment once at start (CONTRACT §1). */
export interface AppConfig {
  /** PostgreSQL URL; undefined means the embedded database under `dataDir`. */
  databaseUrl?: string;
  /** The most connections the app's pool opens (a worker thread's pool: at most 10 of them). */
  poolSize: number;
  port: number;
  snapshotEvery: number;
  logLevel: LogLevelName;
  adminToken?: string;
  production: boolean;
  idempotencyTtlHours: number;
  /** Origins allowed by CORS; none (CORS off) unless configured. */
  corsOrigins: string[];
  /** Requests per minute per client address; undefined means no rate limit. */
  rateLimitPerMinute?: number;
  dataDir: string;
  /** PostgreSQL schema of the event store's own tables; undefined means unqualified names. */
  eventStoreSchema?: string;
  /** Run the projections and the saga in this process (false: it serves commands and reads only). */
  runProcessors: boolean;
  /**
   * Where they run: `main`, the thread that serves HTTP, or `worker`, a worker thread of this
   * process with an event loop of its own (lower read-model lag under load, less throughput).
   */
  processorThread: 'worker' | 'main';
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

/** A configuration value is wrong: the message is the one line the start prints. */
export class ConfigError extends Error {
  constructor(variable: string, problem: string, value: string) {
    super(`Invalid configuration: ${variable} ${problem} (got "${value}")`);
    this.name = 'ConfigError';
  }
}

function integer(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = env[name];
  if (!raw) return fallback;
  const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(name, `must be an integer from ${min} to ${max}`, raw);
  }
  return value;
}

function databaseUrl(env: NodeJS.ProcessEnv): string | undefined {
  const raw = env.DATABASE_URL;
  if (!raw) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(
      'DATABASE_URL',
      'must be a postgres:// URL',
      raw.replace(/\/\/[^@]*@/, '//***@'),
    );
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError('DATABASE_URL', 'must be a postgres:// URL', `${url.protocol}//...`);
  }
  return raw;
}

function logLevel(env: NodeJS.ProcessEnv): LogLevelName {
  const raw = (env.LOG_LEVEL || 'log').toLowerCase();
  const value = raw === 'info' ? 'log' : raw === 'trace' ? 'verbose' : raw;
  if (!(LOG_LEVELS as readonly string[]).includes(value)) {
    throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`, raw);
  }
  return value as LogLevelName;
}

function boolean(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (!raw) return fallback;
  if (raw !== 'true' && raw !== 'false') throw new ConfigError(name, 'must be true or false', raw);
  return raw === 'true';
}

/** One of `values`; the first when unset. */
function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, values: readonly T[]): T {
  const raw = env[name];
  if (!raw) return values[0];
  if (!(values as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `must be one of ${values.join(', ')}`, raw);
  }
  return raw as T;
}

function schemaName(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name];
  if (!raw) return undefined;
  if (!/^[a-z_][a-z0-9_]*$/.test(raw)) {
    throw new ConfigError(name, 'must be a lower-case identifier ([a-z_][a-z0-9_]*)', raw);
  }
  return raw;
}

/** Reads and checks the environment. Empty values count as unset. @throws ConfigError */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  return {
    databaseUrl: databaseUrl(env),
    // Below 5, the four processors' batches and a transfer saga's commands could take every one.
    poolSize: integer(env, 'DATABASE_POOL_SIZE', 20, 5, 1_000),
    port: integer(env, 'PORT', 3000, 0, 65535),
    snapshotEvery: integer(env, 'SNAPSHOT_EVERY', 50, 1, 1_000_000),
    logLevel: logLevel(env),
    adminToken: env.ADMIN_TOKEN || undefined,
    production: env.NODE_ENV === 'production',
    idempotencyTtlHours: integer(env, 'IDEMPOTENCY_TTL_HOURS', 24, 1, 24 * 365),
    corsOrigins: (env.CORS_ORIGINS || '')
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean),
    rateLimitPerMinute: env.RATE_LIMIT_PER_MINUTE
      ? integer(env, 'RATE_LIMIT_PER_MINUTE', 0, 1, 1_000_000)
      : undefined,
    dataDir: env.DATA_DIR || 'data',
    eventStoreSchema: schemaName(env, 'EVENT_STORE_SCHEMA'),
    runProcessors: boolean(env, 'RUN_PROCESSORS', true),
    processorThread: oneOf(env, 'PROCESSOR_THREAD', ['main', 'worker'] as const),
  };
}
