// Runs one suite unchanged against SQLite (a temporary file) and MariaDB (a throwaway server or
// MYSQL_URL). Each call to `registry()` gets a fresh, empty, migrated database.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe } from 'node:test';
import { openRegistry, type RegistryOptions, type SqlRegistry } from '../../src/registry';
import { mariaDbUnavailable, startMariaDb, type MariaDb } from './mariadb';

export type DatabaseKind = 'sqlite' | 'mariadb';

export interface TestDatabase {
  readonly kind: DatabaseKind;
  /** URL of a fresh, empty database (not yet migrated). */
  freshUrl(): Promise<string>;
  /** A migrated registry on a fresh database; closed by stop(). */
  registry(options?: Omit<RegistryOptions, 'url'>): Promise<SqlRegistry>;
  stop(): Promise<void>;
}

class Registries {
  private readonly open: SqlRegistry[] = [];
  async add(url: string, options: Omit<RegistryOptions, 'url'> = {}): Promise<SqlRegistry> {
    const registry = await openRegistry({ ...options, url });
    this.open.push(registry);
    return registry;
  }
  async closeAll(): Promise<void> {
    for (const r of this.open.splice(0)) await r.close().catch(() => undefined);
  }
}

export async function sqliteDatabase(): Promise<TestDatabase> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmflow-sqlite-'));
  const registries = new Registries();
  let n = 0;
  const freshUrl = async () => `sqlite:${path.join(dir, `registry-${++n}.db`)}`;
  return {
    kind: 'sqlite',
    freshUrl,
    registry: async (options) => registries.add(await freshUrl(), options),
    async stop() {
      await registries.closeAll();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A MariaDB test database, or undefined when none is installed (never under CI=true). */
export async function mariaDatabase(): Promise<TestDatabase | undefined> {
  const server: MariaDb | undefined = await startMariaDb();
  if (!server) return undefined;
  const registries = new Registries();
  return {
    kind: 'mariadb',
    freshUrl: () => server.newDatabase(),
    registry: async (options) => registries.add(await server.newDatabase(), options),
    async stop() {
      await registries.closeAll();
      await server.stop();
    },
  };
}

/**
 * Declares `suite` twice, `<title> on sqlite` and `<title> on mariadb`; the MariaDB copy is
 * skipped with a message when no MariaDB is available (and fails the run under CI=true).
 * VMFLOW_TEST_DATABASES=sqlite (or mariadb) runs only the named ones.
 */
export function describeOnDatabases(title: string, suite: (db: () => TestDatabase) => void, kinds: readonly DatabaseKind[] = ['sqlite', 'mariadb']): void {
  const only = process.env.VMFLOW_TEST_DATABASES?.split(',').map((k) => k.trim());
  for (const kind of kinds) {
    if (only && !only.includes(kind)) continue;
    const skip = kind === 'mariadb' ? mariaDbUnavailable() : undefined;
    describe(`${title} on ${kind}`, { skip }, () => {
      let db: TestDatabase | undefined;
      before(async () => {
        db = kind === 'sqlite' ? await sqliteDatabase() : await mariaDatabase();
        if (!db) throw new Error('MariaDB became unavailable after the skip check');
      });
      after(async () => {
        await db?.stop();
      });
      suite(() => {
        if (!db) throw new Error(`${kind} test database is not started`);
        return db;
      });
    });
  }
}
