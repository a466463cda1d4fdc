import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { ConfigError, loadConfig } from './config/config.js';
import { GlobalLogProcessor } from './event-sourcing/index.js';

const USAGE = `usage: npm run projections -- list
       npm run projections -- rebuild <name>    (resets the read model and replays the log into it)
       npm run projections -- retry <name>      (applies its parked events again)
Uses DATABASE_URL (the embedded database is not started here: run it against a server).`;

/** Operator commands for projections, for those without HTTP access to the admin routes. */
async function main(args: string[]): Promise<number> {
  const [command, name] = args;
  if (!command || (command !== 'list' && !name)) {
    console.error(USAGE);
    return 2;
  }
  const config = loadConfig();
  if (!config.databaseUrl)
    throw new ConfigError('DATABASE_URL', 'must be set for this command', '');
  const app = await NestFactory.createApplicationContext(
    // Its processors run even with RUN_PROCESSORS=false: `rebuild` waits for them to catch up.
    AppModule.forRoot({
      ...config,
      databaseUrl: config.databaseUrl,
      logLevel: 'warn',
      runProcessors: true,
    }),
    { abortOnError: false, logger: ['error', 'warn'] },
  );
  try {
    const processor = app.get(GlobalLogProcessor);
    if (command === 'rebuild') {
      await processor.rebuild(name);
      // This process runs the processors too: wait until the read model has caught up.
      for (;;) {
        const info = (await processor.list()).find((p) => p.name === name)!;
        if (info.lag === 0 && info.status !== 'rebuilding') break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      console.log(`${name} rebuilt`);
    } else if (command === 'retry') {
      console.log(JSON.stringify(await processor.retryParked(name)));
    } else if (command === 'list') {
      console.log(JSON.stringify(await processor.list(), null, 2));
    } else {
      console.error(USAGE);
      return 2;
    }
    return 0;
  } finally {
    await app.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
