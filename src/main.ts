import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { ConfigError, loadConfig } from './config/config.js';
import { ensureDatabase, withDatabase } from './database/database-admin.js';
import { startEmbeddedDatabase, type EmbeddedDatabase } from './database/embedded-database.js';
import { createAppWithProcessors } from './processor-thread.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = new Logger('tally');
  let embedded: EmbeddedDatabase | undefined;
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    embedded = await startEmbeddedDatabase({ dir: `${config.dataDir}/pg` });
    databaseUrl = withDatabase(embedded.url, 'tally');
    await ensureDatabase(embedded.url, 'tally');
  }
  const { port: _port, dataDir: _dataDir, processorThread, ...appConfig } = config;
  const { app, close } = await createAppWithProcessors(
    { ...appConfig, databaseUrl },
    processorThread,
    (code) => {
      logger.error(`the processor thread stopped (exit code ${code}); stopping`);
      process.exit(1);
    },
  );
  if (config.production && !config.adminToken) {
    logger.warn(
      'NODE_ENV=production and no ADMIN_TOKEN: the admin routes (/projections, /metrics) are not served',
    );
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal}: finishing requests in flight and stopping`);
    // A request that never ends must not keep the process: give up after 9 s.
    setTimeout(() => {
      logger.error('shutdown took longer than 9 s; exiting anyway');
      process.exit(1);
    }, 9_000).unref();
    await close();
    await embedded?.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  await app.listen(config.port);
  logger.log(
    `listening on port ${config.port} (${embedded ? `embedded database in ${config.dataDir}/pg` : 'DATABASE_URL'}); API docs at /docs`,
  );
}

main().catch((error: unknown) => {
  // One clear line for a bad configuration; the whole error otherwise.
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
