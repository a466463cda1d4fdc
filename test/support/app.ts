import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent.js';
import { createApp } from '../../src/app.js';
import type { AppModuleConfig } from '../../src/app.module.js';
import { createTestDatabase } from './database.js';

export interface TestApp {
  app: INestApplication;
  http: TestAgent;
  databaseUrl: string;
  close(): Promise<void>;
}

/** The real app on a fresh database, served in-process for supertest. */
export async function startTestApp(options: Partial<AppModuleConfig> = {}): Promise<TestApp> {
  const databaseUrl = options.databaseUrl ?? (await createTestDatabase());
  const app = await createApp({ ...options, databaseUrl, snapshotEvery: 50, logLevel: 'silent' });
  await app.init();
  return { app, http: request(app.getHttpServer()), databaseUrl, close: () => app.close() };
}
