// Opens the registry on SQLite (`sqlite:<file>`, `sqlite::memory:`) or MySQL/MariaDB
// (`mysql://user:pass@host:port/db`). The only entry point to the database.
import { backOff } from 'exponential-backoff';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { InvalidInputError } from '../domain/errors';
import { ENTITIES } from './entities';
import { MIGRATIONS } from './migrations';
import { SqlRegistry, type Dialect } from './sql-registry';

export type * from './types';
export { SqlRegistry, type Dialect } from './sql-registry';
export { METADATA_LIMIT_BYTES } from './validation';
export { MAX_SAMPLE_POINTS, SAMPLE_KEEP_SECONDS, SAMPLE_SPACING_SECONDS } from './samples';

export interface RegistryOptions {
  readonly url: string;
  /** Bring the schema up to date before returning. Default true. */
  readonly migrate?: boolean;
  /** Log every SQL statement. */
  readonly logging?: boolean;
  /** MySQL connections in the pool. Default 10. */
  readonly poolSize?: number;
  /** SQLite: how long a writer waits for another process's write lock, in ms. Default 15000. */
  readonly busyTimeoutMs?: number;
  /** MySQL: connect with TLS (the server's certificate is verified). */
  readonly tls?: RegistryTls;
}

/** TLS to a MySQL registry: the CA that signed the server's certificate, and a client certificate. */
export interface RegistryTls {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

export async function openRegistry(options: RegistryOptions): Promise<SqlRegistry> {
  const { dialect, dataSourceOptions } = dataSourceFor(options);
  const dataSource = new DataSource(dataSourceOptions);
  await dataSource.initialize();
  try {
    if (options.migrate ?? true) await migrate(dataSource, dialect);
  } catch (err) {
    await dataSource.destroy().catch(() => undefined);
    throw err;
  }
  return new SqlRegistry(dataSource, dialect);
}

/** The tables a data source on the registry database manages, and how its migrations take turns. */
export interface Schema {
  readonly entities: DataSourceOptions['entities'];
  readonly migrations: DataSourceOptions['migrations'];
  readonly migrationsTableName?: string;
  /** MySQL advisory lock held while migrating. */
  readonly lockName: string;
}

const REGISTRY_SCHEMA: Schema = { entities: ENTITIES, migrations: MIGRATIONS, lockName: 'vmflow_registry_migrations' };

/** Data source options for a registry database URL (`sqlite:<file>`, `mysql://...`); other stores on the same database pass their own schema. */
export function dataSourceFor(options: RegistryOptions, schema: Schema = REGISTRY_SCHEMA): { dialect: Dialect; dataSourceOptions: DataSourceOptions } {
  const { url } = options;
  const common = {
    entities: schema.entities,
    migrations: schema.migrations,
    ...(schema.migrationsTableName ? { migrationsTableName: schema.migrationsTableName } : {}),
    logging: options.logging ?? false,
    synchronize: false,
  } as const;
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (!file) throw new InvalidInputError([{ field: 'url', problem: 'needs a file path: sqlite:<path> or sqlite::memory:' }], 'registry url');
    const memory = file === ':memory:';
    return {
      dialect: 'sqlite',
      dataSourceOptions: {
        ...common,
        type: 'better-sqlite3',
        database: file,
        enableWAL: !memory,
        timeout: options.busyTimeoutMs ?? 15_000,
        prepareDatabase: (db: { pragma(sql: string): unknown }) => {
          if (!memory) db.pragma('synchronous = NORMAL');
        },
      },
    };
  }
  if (/^(mysql|mariadb):\/\//.test(url)) {
    return {
      dialect: 'mysql',
      dataSourceOptions: {
        ...common,
        type: 'mysql',
        connectorPackage: 'mysql2',
        url: url.replace(/^mariadb:/, 'mysql:'),
        charset: 'utf8mb4_bin',
        timezone: 'Z',
        poolSize: options.poolSize ?? 10,
        ...(options.tls ? { ssl: { ...options.tls, rejectUnauthorized: true } } : {}),
      },
    };
  }
  throw new InvalidInputError(
    [{ field: 'url', problem: 'must start with sqlite: or mysql:// (for example sqlite:vmflow.db)' }],
    'registry url',
  );
}

/** Runs pending migrations; several processes starting at once take turns. */
export async function migrate(dataSource: DataSource, dialect: Dialect, lockName = REGISTRY_SCHEMA.lockName): Promise<void> {
  if (dialect === 'mysql') {
    const runner = dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.query(`SELECT GET_LOCK(?, 120)`, [lockName]);
      await dataSource.runMigrations({ transaction: 'each' });
    } finally {
      await runner.query(`SELECT RELEASE_LOCK(?)`, [lockName]).catch(() => undefined);
      await runner.release();
    }
    return;
  }
  // SQLite has no advisory lock: a process that loses the race sees the tables on its next try.
  await backOff(() => dataSource.runMigrations({ transaction: 'all' }), { numOfAttempts: 5, startingDelay: 100 });
}
