// Temporal's schema on PostgreSQL (temporal-sql-tool, the steps of versions.ts) and the Temporal
// server itself: `temporal-server start` renders its embedded config template from the
// environment, as the temporalio/server image does, with 4 history shards and the repository's
// dynamic config file. Its ports stay fixed across restarts, so clients reconnect to the same
// address.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import getPort from 'get-port';
import type { Postgres } from './postgres';
import { DYNAMIC_CONFIG_FILE, MAX_MEMBERSHIP_PORT, ROOT, schemaSteps, SQL_PLUGIN, TEMPORAL_SERVER_SETTINGS } from './versions';

/** Runs every schema step against the PostgreSQL server; a step allowed to fail may (a database that exists). */
export function setupSchema(sqlTool: string, pg: Postgres, log: (line: string) => void = () => undefined): void {
  const env = { ...process.env, SQL_PLUGIN, SQL_HOST: pg.host, SQL_PORT: String(pg.port), SQL_USER: pg.user, SQL_PASSWORD: pg.password };
  for (const step of schemaSteps()) {
    const r = spawnSync(sqlTool, step.args, { env, encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0 && !step.mayFail) throw new Error(`temporal-sql-tool ${step.args.join(' ')} failed (${r.status}):\n${r.stderr || r.stdout}`);
    log(`schema: temporal-sql-tool ${step.args.join(' ')}${r.status !== 0 ? ' (already done)' : ''}`);
  }
}

export interface TemporalServer {
  /** host:port of the frontend. */
  readonly address: string;
  /** The environment it runs with (also written to temporal-server.env in its folder). */
  readonly environment: Readonly<Record<string, string>>;
  readonly logFile: string;
  /** Stops it (SIGTERM, then SIGKILL after the grace) and starts it again on the same ports. */
  restart(options?: { signal?: NodeJS.Signals; downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

const SERVICES = ['FRONTEND', 'HISTORY', 'MATCHING', 'WORKER'] as const;
const STOP_GRACE_MS = 15_000;

async function lowPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = await getPort({ host: '127.0.0.1', port: getPort.makeRange(20_000 + Math.floor(Math.random() * 10_000), MAX_MEMBERSHIP_PORT) });
    if (port <= MAX_MEMBERSHIP_PORT && !taken.has(port)) {
      taken.add(port);
      return port;
    }
  }
}

export async function startTemporalServer(options: { binary: string; postgres: Postgres; dir: string; log?: (line: string) => void }): Promise<TemporalServer> {
  const log = options.log ?? (() => undefined);
  const taken = new Set<number>();
  const ports: Record<string, string> = {};
  for (const service of SERVICES) {
    ports[`${service}_GRPC_PORT`] = String(await lowPort(taken));
    ports[`${service}_MEMBERSHIP_PORT`] = String(await lowPort(taken));
  }
  ports.FRONTEND_HTTP_PORT = String(await lowPort(taken));
  const environment: Record<string, string> = {
    ...TEMPORAL_SERVER_SETTINGS,
    POSTGRES_SEEDS: options.postgres.host,
    DB_PORT: String(options.postgres.port),
    POSTGRES_USER: options.postgres.user,
    POSTGRES_PWD: options.postgres.password,
    BIND_ON_IP: '127.0.0.1',
    DYNAMIC_CONFIG_FILE_PATH: path.join(ROOT, DYNAMIC_CONFIG_FILE),
    LOG_LEVEL: 'warn',
    ...ports,
  };
  writeFileSync(path.join(options.dir, 'temporal-server.env'), Object.entries(environment).map(([k, v]) => `${k}=${v}\n`).join(''));
  const address = `127.0.0.1:${environment.FRONTEND_GRPC_PORT}`;
  const logFile = path.join(options.dir, 'temporal-server.log');
  const out = createWriteStream(logFile, { flags: 'a' });

  let child: ChildProcess;
  let exited: Promise<void>;
  const launch = async () => {
    child = spawn(options.binary, ['start'], { env: { PATH: process.env.PATH ?? '', ...environment }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.pipe(out, { end: false });
    child.stderr!.pipe(out, { end: false });
    exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const started = Date.now();
    await waitHealthy(address, child, logFile);
    log(`temporal: server answering on ${address} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  };
  const stopChild = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };
  const killOnExit = () => child?.kill('SIGKILL');
  process.once('exit', killOnExit);
  await launch();

  return {
    address,
    environment,
    logFile,
    async restart({ signal = 'SIGTERM', downMs = 0 } = {}) {
      await stopChild(signal);
      if (downMs) await new Promise((r) => setTimeout(r, downMs));
      await launch();
    },
    async stop() {
      await stopChild();
      process.removeListener('exit', killOnExit);
      out.end();
    },
  };
}

function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Waits until the frontend answers and the system namespace is served (the shards are owned). */
async function waitHealthy(address: string, child: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`temporal-server exited (${child.exitCode ?? child.signalCode}) at start:\n${tail(logFile)}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await connection.workflowService.describeNamespace({ namespace: 'temporal-system' });
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`temporal-server did not answer on ${address} within 120 s (${(err as Error).message}):\n${tail(logFile)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
