// A throwaway PostgreSQL for Temporal: initdb into a temporary folder, one server on a free
// loopback port, gone after stop(). PostgreSQL refuses to run as root, so as root it runs as the
// `postgres` system user.
import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import getPort from 'get-port';
import { POSTGRES_MAJOR } from './versions';
import { executable } from '../../src/temporal/binaries';

export interface Postgres {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly dir: string;
  stop(): Promise<void>;
}


/** The folder of initdb and postgres: PG_BIN, Debian's /usr/lib/postgresql/<major>/bin, or PATH. */
export function postgresBin(): string {
  const candidates = [process.env.PG_BIN, `/usr/lib/postgresql/${POSTGRES_MAJOR}/bin`, ...(process.env.PATH ?? '').split(path.delimiter)];
  for (const dir of candidates) if (dir && executable(path.join(dir, 'initdb')) && executable(path.join(dir, 'postgres'))) return dir;
  throw new Error(`no PostgreSQL here: install postgresql-${POSTGRES_MAJOR} (initdb, postgres) or set PG_BIN`);
}

/** spawn options that drop root for the `postgres` user; empty when not root. */
function asPostgresUser(): Pick<SpawnOptions, 'uid' | 'gid'> {
  if (process.getuid?.() !== 0) return {};
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

export async function startPostgres(): Promise<Postgres> {
  const bin = postgresBin();
  const user = asPostgresUser();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmflow-postgres-'));
  if (user.uid !== undefined) chownSync(dir, user.uid, user.gid!);
  const data = path.join(dir, 'data');
  const dbUser = 'temporal';
  const password = 'temporal';

  const init = spawnSync(path.join(bin, 'initdb'), ['-D', data, '-U', dbUser, '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'], { ...user, encoding: 'utf8', timeout: 120_000 });
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.status}): ${init.stderr || init.stdout}`);
  }

  const port = await getPort({ host: '127.0.0.1' });
  const child: ChildProcess = spawn(
    path.join(bin, 'postgres'),
    [
      '-D', data,
      '-p', String(port),
      '-k', dir,
      '-c', 'listen_addresses=127.0.0.1',
      '-c', 'max_connections=400',
      // A throwaway server: durability is not the point, speed is.
      '-c', 'fsync=off',
      '-c', 'synchronous_commit=off',
      '-c', 'full_page_writes=off',
    ],
    { ...user, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr!.on('data', (d: Buffer) => {
    log = (log + d.toString()).slice(-20_000);
  });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const killOnExit = () => {
    if (!exited) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) {
      process.removeListener('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`postgres exited before accepting connections:\n${log}`);
    }
    const ready = spawnSync(path.join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-U', dbUser], { encoding: 'utf8' });
    if (ready.status === 0) break;
    if (Date.now() > deadline) {
      killOnExit();
      process.removeListener('exit', killOnExit);
      throw new Error(`postgres did not accept connections within 60 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    host: '127.0.0.1',
    port,
    user: dbUser,
    password,
    dir,
    async stop() {
      if (!exited) {
        const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        // SIGINT: PostgreSQL's fast shutdown.
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await gone;
        clearTimeout(timer);
      }
      process.removeListener('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
