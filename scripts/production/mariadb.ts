// The registry's database for the production tier: a throwaway MariaDB that can be restarted on
// the same data and port while vmflow runs (test/support/mariadb.ts finds the binaries).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import getPort from 'get-port';
import { createConnection } from 'mysql2/promise';
import { findMariaDb } from '../../test/support/mariadb';

export interface RegistryDatabase {
  /** `mysql://root@127.0.0.1:<port>/vmflow` */
  readonly url: string;
  /** Stops the server (SIGKILL by default: a crash) and starts it again on the same data and port. */
  restart(options?: { signal?: NodeJS.Signals; downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

export async function startRegistryDatabase(): Promise<RegistryDatabase> {
  const binaries = findMariaDb();
  if (!binaries) throw new Error('no MariaDB here: install mariadb-server (mariadbd, mariadb-install-db)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmflow-registry-db-'));
  const dataDir = path.join(dir, 'data');
  const errorLog = path.join(dir, 'error.log');
  const install = spawnSync(binaries.installer, ['--no-defaults', `--datadir=${dataDir}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve'], { encoding: 'utf8', timeout: 120_000 });
  if (install.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${binaries.installer} failed (${install.status}): ${install.stderr || install.stdout}`);
  }
  const port = await getPort({ host: '127.0.0.1' });
  const args = [
    '--no-defaults',
    `--datadir=${dataDir}`,
    `--socket=${path.join(dir, 'mariadb.sock')}`,
    `--pid-file=${path.join(dir, 'mariadb.pid')}`,
    `--log-error=${errorLog}`,
    `--tmpdir=${dir}`,
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
  ];
  let child: ChildProcess | undefined;
  const killOnExit = () => child?.kill('SIGKILL');
  process.once('exit', killOnExit);

  const exited = (c: ChildProcess) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise<void>((resolve) => c.once('exit', () => resolve())));
  async function launch(): Promise<void> {
    const c = spawn(binaries!.server, args, { stdio: 'ignore' });
    child = c;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (c.exitCode !== null) throw new Error(`mariadbd exited (${c.exitCode}):\n${readFileSync(errorLog, 'utf8').slice(-3000)}`);
      try {
        const conn = await createConnection({ host: '127.0.0.1', port, user: 'root' });
        await conn.end();
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`mariadbd did not accept connections within 60 s:\n${readFileSync(errorLog, 'utf8').slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  async function halt(signal: NodeJS.Signals): Promise<void> {
    if (!child) return;
    const c = child;
    c.kill(signal);
    const timer = setTimeout(() => c.kill('SIGKILL'), 30_000);
    await exited(c);
    clearTimeout(timer);
  }

  await launch();
  const admin = await createConnection({ host: '127.0.0.1', port, user: 'root' });
  await admin.query('CREATE DATABASE vmflow CHARACTER SET utf8mb4 COLLATE utf8mb4_bin');
  await admin.end();
  return {
    url: `mysql://root@127.0.0.1:${port}/vmflow`,
    async restart({ signal = 'SIGKILL', downMs = 0 } = {}) {
      await halt(signal);
      if (downMs) await new Promise((r) => setTimeout(r, downMs));
      await launch();
    },
    async stop() {
      await halt('SIGTERM');
      process.removeListener('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
