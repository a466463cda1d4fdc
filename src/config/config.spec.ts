import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('gives the documented defaults for an empty environment', () => {
    expect(loadConfig({})).toEqual({
      databaseUrl: undefined,
      poolSize: 20,
      port: 3000,
      snapshotEvery: 50,
      logLevel: 'log',
      adminToken: undefined,
      production: false,
      idempotencyTtlHours: 24,
      corsOrigins: [],
      rateLimitPerMinute: undefined,
      runProcessors: true,
      processorThread: 'main',
      dataDir: 'data',
      eventStoreSchema: undefined,
    });
  });

  it('reads EVENT_STORE_SCHEMA', () => {
    expect(loadConfig({ EVENT_STORE_SCHEMA: 'tally_es' }).eventStoreSchema).toBe('tally_es');
  });

  it('reads RUN_PROCESSORS, true unless set to false', () => {
    expect(loadConfig({}).runProcessors).toBe(true);
    expect(loadConfig({ RUN_PROCESSORS: 'false' }).runProcessors).toBe(false);
    expect(loadConfig({ RUN_PROCESSORS: 'true' }).runProcessors).toBe(true);
  });

  it('reads PROCESSOR_THREAD, main unless set to worker', () => {
    expect(loadConfig({ PROCESSOR_THREAD: 'main' }).processorThread).toBe('main');
    expect(loadConfig({ PROCESSOR_THREAD: 'worker' }).processorThread).toBe('worker');
  });

  it('reads DATABASE_POOL_SIZE', () => {
    expect(loadConfig({ DATABASE_POOL_SIZE: '8' }).poolSize).toBe(8);
  });

  it('treats an empty value as unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_URL: '' }).port).toBe(3000);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['SNAPSHOT_EVERY', '0'],
    ['SNAPSHOT_EVERY', '1.5'],
    ['LOG_LEVEL', 'loud'],
    ['DATABASE_URL', 'mysql://localhost/x'],
    ['DATABASE_URL', 'not a url'],
    ['EVENT_STORE_SCHEMA', 'Tally'],
    ['EVENT_STORE_SCHEMA', 'tally; DROP TABLE events'],
    ['RUN_PROCESSORS', 'no'],
    ['PROCESSOR_THREAD', 'other'],
    ['DATABASE_POOL_SIZE', '4'],
    ['DATABASE_POOL_SIZE', 'ten'],
  ])('refuses %s=%s with one line naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(
      new RegExp(`^Invalid configuration: ${name} `),
    );
  });

  it('does not print the password of a bad DATABASE_URL', () => {
    expect(() => loadConfig({ DATABASE_URL: 'postgres://u:secret@host:99999/db' })).toThrow(
      /^(?!.*secret)/,
    );
    expect(() => loadConfig({ DATABASE_URL: 'http://u:secret@host/db' })).toThrow(/^(?!.*secret)/);
  });

  it('reads LOG_LEVEL, with info as another name for log', () => {
    expect(loadConfig({ LOG_LEVEL: 'warn' }).logLevel).toBe('warn');
    expect(loadConfig({ LOG_LEVEL: 'info' }).logLevel).toBe('log');
  });

  it('reads CORS_ORIGINS as a list and RATE_LIMIT_PER_MINUTE as a number', () => {
    const config = loadConfig({
      CORS_ORIGINS: 'https://a.example, https://b.example',
      RATE_LIMIT_PER_MINUTE: '120',
    });
    expect(config.corsOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(config.rateLimitPerMinute).toBe(120);
  });
});
