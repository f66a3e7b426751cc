// The registry's database for the production tier: a throwaway MariaDB that can be restarted on
// the same data and port while vmflow runs (test/support/mariadb.ts finds the binaries, installs the data
// directory and names the server's arguments).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import getPort from 'get-port';
import { createConnection } from 'mysql2/promise';
import { findMariaDb, installDataDir, serverArgsFor } from '../../test/support/mariadb';

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
  const data = installDataDir(binaries, 'vmflow-registry-db-');
  const { dir, errorLog } = data;
  const port = await getPort({ host: '127.0.0.1' });
  // Durable: the tier crashes this server mid-command and expects every commit to survive.
  const args = serverArgsFor(data, port, { durable: true });
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
