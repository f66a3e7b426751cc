// A MariaDB for tests. With MYSQL_URL set, a fresh database on that server; otherwise a throwaway
// `mariadbd` on a temporary data directory and a free loopback port, gone after stop().
// Without a MariaDB binary: CI=true fails the run, elsewhere the caller skips with a message.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import getPort from 'get-port';
import { createConnection, type Connection } from 'mysql2/promise';
import { executable } from '../../src/temporal/binaries';

export interface MariaDb {
  /** URL of a database created for this run: `mysql://root@127.0.0.1:<port>/<db>`. */
  readonly url: string;
  /** Creates one more empty database on the same server and returns its URL (dropped by stop). */
  newDatabase(): Promise<string>;
  stop(): Promise<void>;
}

interface Binaries {
  readonly server: string;
  readonly installer: string;
}

const SERVER_NAMES = ['mariadbd', 'mysqld'];
const INSTALLER_NAMES = ['mariadb-install-db', 'mysql_install_db'];
const EXTRA_DIRS = ['/usr/sbin', '/usr/bin', '/usr/local/bin', '/usr/local/mysql/bin', '/usr/local/mariadb/bin'];

function locate(names: readonly string[], envVar: string): string | undefined {
  // An explicit path is the only candidate: a wrong one means "not installed", not "search elsewhere".
  const fromEnv = process.env[envVar];
  if (fromEnv) return executable(fromEnv) ? fromEnv : undefined;
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const name of names) for (const dir of dirs) if (executable(path.join(dir, name))) return path.join(dir, name);
  return undefined;
}

/** The MariaDB server and installer binaries (MARIADBD / MARIADB_INSTALL_DB override), if installed. */
export function findMariaDb(): Binaries | undefined {
  const server = locate(SERVER_NAMES, 'MARIADBD');
  const installer = locate(INSTALLER_NAMES, 'MARIADB_INSTALL_DB');
  return server && installer ? { server, installer } : undefined;
}

/**
 * Why MariaDB tests cannot run here, or undefined when they can. Under CI=true a missing MariaDB
 * is an error, not a skip: the run must fail rather than pass without the production database.
 */
export function mariaDbUnavailable(): string | undefined {
  if (process.env.MYSQL_URL || findMariaDb()) return undefined;
  const reason = 'no MariaDB here: install mariadb-server (mariadbd, mariadb-install-db) or set MYSQL_URL';
  if (process.env.CI === 'true') throw new Error(`${reason} (CI=true: MariaDB tests may not be skipped)`);
  return reason;
}

/** `serverArgs` go to a throwaway server's command line (TLS files, say); MYSQL_URL's server has its own. */
export async function startMariaDb(options: { serverArgs?: readonly string[] } = {}): Promise<MariaDb | undefined> {
  if (process.env.MYSQL_URL) return onExistingServer(process.env.MYSQL_URL);
  const binaries = findMariaDb();
  if (!binaries) {
    mariaDbUnavailable(); // throws under CI
    return undefined;
  }
  return throwawayServer(binaries, options.serverArgs);
}

function uniqueName(): string {
  return `vmflow_test_${process.pid}_${randomBytes(4).toString('hex')}`;
}

async function createDatabase(admin: Connection, name: string): Promise<void> {
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
}

/** Databases on a server we do not own: each test run gets its own, dropped afterwards. */
async function onExistingServer(serverUrl: string): Promise<MariaDb> {
  const base = new URL(serverUrl);
  base.pathname = '/';
  const admin = await createConnection(base.toString());
  const created: string[] = [];
  const newDatabase = async () => {
    const name = uniqueName();
    await createDatabase(admin, name);
    created.push(name);
    const url = new URL(base.toString());
    url.pathname = `/${name}`;
    return url.toString();
  };
  const url = await newDatabase();
  return {
    url,
    newDatabase,
    async stop() {
      // VMFLOW_KEEP_TEST_DATABASES=1 leaves them for a post-mortem.
      if (process.env.VMFLOW_KEEP_TEST_DATABASES === '1') console.error(`kept test databases: ${created.splice(0).join(', ')}`);
      for (const name of created.splice(0)) await admin.query(`DROP DATABASE IF EXISTS \`${name}\``).catch(() => undefined);
      await admin.end();
    },
  };
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface DataDir {
  readonly dir: string;
  readonly dataDir: string;
  readonly errorLog: string;
}

/** A fresh data directory in a temp folder, initialised by mariadb-install-db (removed if that fails). */
export function installDataDir(binaries: Binaries, prefix: string): DataDir {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  const dataDir = path.join(dir, 'data');
  const install = spawnSync(
    binaries.installer,
    // Its own tmpdir: installs running at once in the shared /tmp removed each other's temporary tables.
    ['--no-defaults', `--datadir=${dataDir}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve', `--tmpdir=${dir}`],
    { encoding: 'utf8', timeout: 120_000 },
  );
  if (install.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${binaries.installer} failed (${install.status}): ${install.stderr || install.stdout}`);
  }
  return { dir, dataDir, errorLog: path.join(dir, 'error.log') };
}

/**
 * A loopback-only server on `port` without grant tables or a binary log. `durable: false` (tests)
 * also relaxes the redo log flush and the doublewrite buffer: speed over surviving an OS crash.
 */
export function serverArgsFor(d: DataDir, port: number, options: { durable?: boolean } = {}): string[] {
  return [
    '--no-defaults',
    `--datadir=${d.dataDir}`,
    `--socket=${path.join(d.dir, 'mariadb.sock')}`,
    `--pid-file=${path.join(d.dir, 'mariadb.pid')}`,
    `--log-error=${d.errorLog}`,
    `--tmpdir=${d.dir}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    '--skip-networking=0',
    '--skip-grant-tables',
    '--skip-name-resolve',
    '--user=root',
    '--character-set-server=utf8mb4',
    '--collation-server=utf8mb4_bin',
    '--max-connections=500',
    '--skip-log-bin',
    '--innodb-buffer-pool-size=128M',
    ...(options.durable ? [] : ['--innodb-flush-log-at-trx-commit=2', '--innodb-doublewrite=0']),
  ];
}

async function throwawayServer(binaries: Binaries, serverArgs: readonly string[] = []): Promise<MariaDb> {
  const { dir, dataDir, errorLog } = installDataDir(binaries, 'vmflow-mariadb-');
  const cleanupDir = () => rmSync(dir, { recursive: true, force: true });
  const port = await getPort({ host: '127.0.0.1' });
  const child: ChildProcess = spawn(binaries.server, [...serverArgsFor({ dir, dataDir, errorLog }, port), ...serverArgs], { stdio: 'ignore' });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  // Never leave a server behind, even when the test process dies mid-run.
  const killOnExit = () => {
    if (!exited) child.kill('SIGKILL');
    cleanupDir();
  };
  process.once('exit', killOnExit);

  const base = `mysql://root@127.0.0.1:${port}/`;
  let admin: Connection | undefined;
  const deadline = Date.now() + 60_000;
  while (!admin) {
    if (exited) {
      process.removeListener('exit', killOnExit);
      const log = tail(errorLog);
      cleanupDir();
      throw new Error(`mariadbd exited before accepting connections:\n${log}`);
    }
    try {
      admin = await createConnection({ host: '127.0.0.1', port, user: 'root' });
    } catch {
      if (Date.now() > deadline) {
        killOnExit();
        process.removeListener('exit', killOnExit);
        throw new Error(`mariadbd did not accept connections within 60 s:\n${tail(errorLog)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const connection = admin;

  const newDatabase = async () => {
    const name = uniqueName();
    await createDatabase(connection, name);
    return `${base}${name}`;
  };
  const url = await newDatabase();

  return {
    url,
    newDatabase,
    async stop() {
      await connection.end().catch(() => undefined);
      if (!exited) {
        const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await gone;
        clearTimeout(timer);
      }
      process.removeListener('exit', killOnExit);
      cleanupDir();
    },
  };
}
