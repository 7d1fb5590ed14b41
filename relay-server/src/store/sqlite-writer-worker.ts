import { parentPort, workerData } from 'node:worker_threads';
import { appendBatch, prepareAppend, type AppendRow } from './sqlite-append.js';
import type { SqliteDriver } from './sqlite-driver.js';
import type { WriterRequest, WriterResponse, WriterSetup } from './sqlite-writer.js';

// The writer thread: its own connection to the database file, so the fsync of each commit
// happens here while the main thread goes on reading requests.
const setup = workerData as WriterSetup;
const driver = ((await import(setup.driverModule)) as Record<string, SqliteDriver>)[setup.driverExport];
if (!driver) throw new Error(`sqlite writer: ${setup.driverModule} exports no ${setup.driverExport}`);
const db = driver.open(setup.path);
db.exec('PRAGMA synchronous = FULL');
db.exec('PRAGMA busy_timeout = 5000');
if (setup.maxPageCount !== undefined) db.exec(`PRAGMA max_page_count = ${setup.maxPageCount}`);
const statements = prepareAppend(db);
const port = parentPort;
if (!port) throw new Error('sqlite writer must run as a worker thread');

port.on('message', (request: WriterRequest) => {
  if (request.type === 'close') {
    db.close();
    port.close();
    return;
  }
  let response: WriterResponse;
  try {
    db.exec('BEGIN IMMEDIATE');
    try {
      const results = appendBatch(statements, request.rows as AppendRow[]);
      db.exec('COMMIT');
      response = { id: request.id, results };
    } catch (error) {
      try {
        db.exec('ROLLBACK');
      } catch {
        // SQLite already rolled back (e.g. after SQLITE_FULL); the first error is the one to report.
      }
      throw error;
    }
  } catch (error) {
    response = { id: request.id, error: { kind: driver.errorKind(error), message: error instanceof Error ? error.message : String(error) } };
  }
  port.postMessage(response);
});
port.postMessage({ id: 0, ready: true } satisfies WriterResponse);
