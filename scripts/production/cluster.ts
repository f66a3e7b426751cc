// The production topology on this machine: PostgreSQL with Temporal's schema, a 4-shard Temporal
// server on it, the Web UI server, and MariaDB for the registry — then vmflow from dist/ as
// separate processes: the sim, workers and the API. Used by the production tests and the bench.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import getPort from 'get-port';
import { ApiClient } from '../../src/cli/api-client';
import { SimAdmin } from '../../src/sim/admin-client';
import { startRegistryDatabase, type RegistryDatabase } from './mariadb';
import { startPostgres, type Postgres } from './postgres';
import { setupSchema, startTemporalServer, type TemporalServer } from './temporal-server';
import { toolPaths } from './tools';
import { startUiServer, type UiServer } from './ui-server';
import { NAMESPACE, ROOT } from './versions';

export const DIST_MAIN = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
export const BIN_VMFLOW = path.join(ROOT, 'bin', 'vmflow');

export interface Cluster {
  readonly dir: string;
  readonly postgres: Postgres;
  readonly temporal: TemporalServer;
  readonly ui?: UiServer;
  readonly registry: RegistryDatabase;
  readonly namespace: string;
  /** The settings every vmflow process gets. */
  readonly env: Readonly<Record<string, string>>;
  stop(): Promise<void>;
}

type Log = (line: string) => void;

export async function startCluster(options: { log?: Log; ui?: boolean; dir?: string } = {}): Promise<Cluster> {
  const log = options.log ?? (() => undefined);
  const tools = toolPaths();
  const dir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), 'vmflow-production-'));
  const stops: Array<() => Promise<void>> = [];
  try {
    const [postgres, registry] = await Promise.all([startPostgres(), startRegistryDatabase()]);
    stops.push(() => postgres.stop(), () => registry.stop());
    log(`postgres on ${postgres.port}, mariadb at ${registry.url}`);
    setupSchema(tools.sqlTool, postgres, log);
    const temporal = await startTemporalServer({ binary: tools.temporalServer, postgres, dir, log });
    stops.push(() => temporal.stop());
    let ui: UiServer | undefined;
    if (options.ui !== false) {
      ui = await startUiServer({ binary: tools.uiServer, configDir: tools.uiConfigDir, temporalAddress: temporal.address, namespace: NAMESPACE, dir });
      stops.push(() => ui!.stop());
      log(`web ui on ${ui.url}`);
    }
    const env = {
      VMFLOW_TEMPORAL_ADDRESS: temporal.address,
      VMFLOW_NAMESPACE: NAMESPACE,
      VMFLOW_REGISTRY_URL: registry.url,
      VMFLOW_DATA_DIR: path.join(dir, 'vmflow'),
      VMFLOW_LOG_LEVEL: 'info',
      VMFLOW_WEB_UI_URL: ui?.url ?? 'http://127.0.0.1:8233',
      // The tests run monitor and collector cycles when they want them.
      VMFLOW_MONITOR_INTERVAL: '3600',
      VMFLOW_COLLECTOR_INTERVAL: '3600',
    };
    return {
      dir,
      postgres,
      temporal,
      ui,
      registry,
      namespace: NAMESPACE,
      env,
      async stop() {
        for (const stop of stops.reverse()) await stop().catch((err) => log(`stop: ${(err as Error).message}`));
        if (!options.dir && !process.env.VMFLOW_KEEP_PRODUCTION_DIR) rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    throw err;
  }
}

/** A vmflow process from dist/. */
export interface VmflowProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves with the exit code (or signal) when it ends. */
  readonly exited: Promise<number | string>;
  /** Kills it with `signal` and waits for it to end. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** The environment of a vmflow process: PATH and HOME, then only what is given. */
function processEnv(env: Readonly<Record<string, string>>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.tmpdir(), ...env };
}

/** Starts `vmflow <args>`: through bin/vmflow when `viaBin`, else `node dist/src/cli/main.js`. */
export function spawnVmflow(name: string, args: readonly string[], env: Readonly<Record<string, string>>, dir: string, options: { viaBin?: boolean } = {}): VmflowProcess {
  const logFile = path.join(dir, `${name}.log`);
  const out = createWriteStream(logFile, { flags: 'a' });
  const [command, argv] = options.viaBin ? [BIN_VMFLOW, [...args]] : [process.execPath, ['--enable-source-maps', DIST_MAIN, ...args]];
  const child = spawn(command, argv, { cwd: ROOT, env: processEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(out, { end: false });
  child.stderr!.pipe(out, { end: false });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  void exited.then(() => out.end());
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  void exited.then(() => process.removeListener('exit', killOnExit));
  return {
    name,
    child,
    pid: child.pid!,
    logFile,
    exited,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** Runs `vmflow <args>` from dist/ to its end. */
export function runVmflow(args: readonly string[], env: Readonly<Record<string, string>>, options: { viaBin?: boolean } = {}): { status: number | null; stdout: string; stderr: string } {
  const [command, argv] = options.viaBin ? [BIN_VMFLOW, [...args]] : [process.execPath, ['--enable-source-maps', DIST_MAIN, ...args]];
  const r = spawnSync(command, argv, { cwd: ROOT, env: processEnv(env), encoding: 'utf8', timeout: 180_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Waits for a line of the process's output to match. */
export function waitForOutput(p: VmflowProcess, pattern: RegExp, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => done(new Error(`${p.name}: no output matching ${pattern} within ${timeoutMs / 1000} s (see ${p.logFile})`)), timeoutMs);
    const onData = (d: Buffer) => {
      buf = (buf + d.toString()).slice(-100_000);
      const line = buf.split('\n').find((l) => pattern.test(l));
      if (line) done(undefined, line);
    };
    const onExit = (code: number | null, signal: string | null) => done(new Error(`${p.name} exited (${code ?? signal}) before ${pattern} (see ${p.logFile})`));
    function done(err?: Error, line?: string) {
      clearTimeout(timer);
      p.child.stdout!.off('data', onData);
      p.child.stderr!.off('data', onData);
      p.child.off('exit', onExit);
      if (err) reject(err);
      else resolve(line!);
    }
    p.child.stdout!.on('data', onData);
    p.child.stderr!.on('data', onData);
    p.child.once('exit', onExit);
  });
}

/** SIGTERM, then SIGKILL when it has not ended within `graceMs`. */
export async function stopWithin(p: VmflowProcess, graceMs: number): Promise<void> {
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await p.kill('SIGTERM');
  clearTimeout(timer);
}

/** Where vmflow's processes keep their logs and state, and the settings they all get. */
export type Site = Pick<Cluster, 'dir' | 'env'>;

export interface Deployment {
  readonly cluster: Site;
  readonly sim: { readonly url: string; readonly admin: SimAdmin; readonly process: VmflowProcess };
  readonly workers: VmflowProcess[];
  readonly api: { readonly url: string; readonly client: ApiClient; readonly process: VmflowProcess; readonly token: string };
  /** Starts one more worker and waits until it polls. */
  startWorker(): Promise<VmflowProcess>;
  stop(): Promise<void>;
}

/** A worker is polling once the SDK logs its state RUNNING. */
const WORKER_RUNNING = /"state":"RUNNING"/;

/** vmflow on the cluster, from dist/: the sim (through bin/vmflow), `workers` workers and the API. */
export async function deployVmflow(cluster: Site, options: { workers?: number; log?: Log; workerEnv?: Record<string, string> } = {}): Promise<Deployment> {
  const log = options.log ?? (() => undefined);
  const procs: VmflowProcess[] = [];
  try {
    const simProcess = spawnVmflow('sim', ['sim', '--port', '0', '--state-dir', path.join(cluster.dir, 'sim')], cluster.env, cluster.dir, { viaBin: true });
    procs.push(simProcess);
    const simUrl = (JSON.parse(await waitForOutput(simProcess, /^\{"url":"[^"]+"\}$/)) as { url: string }).url;

    const workers: VmflowProcess[] = [];
    let n = 0;
    const startWorker = async () => {
      const w = spawnVmflow(`worker-${++n}`, ['worker'], { ...cluster.env, ...options.workerEnv }, cluster.dir);
      procs.push(w);
      await waitForOutput(w, WORKER_RUNNING);
      workers.push(w);
      log(`worker ${w.name} polling (pid ${w.pid})`);
      return w;
    };
    await Promise.all(Array.from({ length: options.workers ?? 2 }, () => startWorker()));

    const created = runVmflow(['tokens', 'create', '--role', 'admin', '--name', 'production-tier', '-o', 'json'], cluster.env);
    if (created.status !== 0) throw new Error(`vmflow tokens create failed: ${created.stderr}`);
    const token = (JSON.parse(created.stdout) as { secret: string }).secret;
    const apiPort = await getPort({ host: '127.0.0.1' });
    const apiProcess = spawnVmflow('api', ['api', '--host', '127.0.0.1', '--port', String(apiPort)], cluster.env, cluster.dir);
    procs.push(apiProcess);
    await waitForOutput(apiProcess, /vmflow API on/);
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    log(`api on ${apiUrl}`);
    return {
      cluster,
      sim: { url: simUrl, admin: new SimAdmin(simUrl), process: simProcess },
      workers,
      api: { url: apiUrl, client: new ApiClient(apiUrl, token), process: apiProcess, token },
      startWorker,
      async stop() {
        await Promise.all(procs.map((p) => stopWithin(p, 30_000)));
      },
    };
  } catch (err) {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    throw err;
  }
}
