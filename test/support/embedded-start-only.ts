/**
 * Starts the embedded database in the folder given and prints its pid, then idles with no signal
 * handler of its own: an app interrupted during its start (test/integration/embedded-database).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startEmbeddedDatabase } from '../../src/database/embedded-database.js';

const dir = process.argv[2];
await startEmbeddedDatabase({ dir, fast: true });
const pid = Number((await readFile(join(dir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
console.log(`server ${pid}`);
setInterval(() => undefined, 1_000);
