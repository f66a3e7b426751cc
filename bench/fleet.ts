// Creates end to end at fleet scale: real `createContainer` workflows (client → Temporal dev
// server → vmflow worker process → registry → sim) on 10, 1,000 and 10,000 sim hosts, the
// registry pre-filled with 10 running containers per host, on SQLite and on MariaDB. In the same
// run, at each scale, the raw Temporal floor: a no-op workflow with the same activities, on a
// worker process of its own with the same settings, runs interleaved with the creates so that
// load from anything else on the machine falls on both alike.
//
// Per scale: creates/s, p50/p99 latency, CPU ms per create by process (the vmflow worker, the
// Temporal server, the database, the sim, this process as the client), the ratio to the 10-host
// figure and to the floor, and how many of their activities ran more than once. Targets:
// 10,000 hosts ≥ 0.9 × 10 hosts; 10 hosts ≥ 0.8 × the floor.
//
// Usage: npm run bench:fleet [-- --creates 200 --in-flight 50 --scales 10,1000,10000 --db sqlite,mysql]
// BENCH_PROFILE_DIR=dir: the vmflow and floor workers write CPU profiles there (node --cpu-prof).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Table from 'cli-table3';
import { connect, type Vmflow } from '../src/client';
import { openRegistry } from '../src/registry';
import type { SqlRegistry } from '../src/registry/sql-registry';
import { startDevServer, type DevServer } from '../src/temporal/dev-server';
import { startMariaDb, type MariaDb } from '../test/support/mariadb';
import { startSim } from '../test/support/sim';
import { fillFleet } from './fleet-fill';
import { cpuByRole, difference } from './process-cpu';
import { addReruns, describeReruns, emptyReruns, type Reruns } from './reruns';

const ROOT = path.resolve(__dirname, '..');
const { values: args } = parseArgs({
  options: {
    creates: { type: 'string', default: process.env.BENCH_CREATES ?? '200' },
    'in-flight': { type: 'string', default: process.env.BENCH_IN_FLIGHT ?? '50' },
    scales: { type: 'string', default: process.env.BENCH_SCALES ?? '10,1000,10000' },
    db: { type: 'string', default: process.env.BENCH_DB ?? 'sqlite,mysql' },
  },
});
const CREATES = Number(args.creates);
const IN_FLIGHT = Number(args['in-flight']);
const SCALES = args.scales.split(',').map(Number);
const DATABASES = args.db.split(',') as Array<'sqlite' | 'mysql'>;
const CONTAINERS_PER_HOST = 10;
const IP_POOL = '10.0.0.0/12';
const HOST_CAPACITY = { cpus: 128, memoryMiB: 524288, diskGiB: 20000 };
const CONTAINER = { cpus: 1, memoryMiB: 1024, diskGiB: 10 };
const FLOOR_QUEUE = 'bench-floor';

/** Which process a command line belongs to. */
function roleOf(cmdline: string): string | undefined {
  if (/\bserver start-dev\b/.test(cmdline)) return 'temporal';
  if (/mariadbd|mysqld/.test(cmdline)) return 'database';
  if (cmdline.includes('src/cli/main.ts') && /\bworker\b/.test(cmdline)) return 'worker';
  if (cmdline.includes('bench/floor/worker.ts')) return 'floor worker';
  if (cmdline.includes('src/sim/main.ts')) return 'sim';
  return undefined;
}

interface RunFigures {
  readonly seconds: number;
  readonly latenciesMs: number[];
  readonly cpu: Record<string, number>;
}

interface ScaleResult {
  readonly db: string;
  readonly hosts: number;
  readonly vmflow: RunFigures;
  readonly floor: RunFigures;
  readonly overCapacity: number;
  readonly hostsUsed: number;
  readonly fillSeconds: number;
  readonly load: number;
  /** Activities of the measured creates, and of the floor's workflows, that ran more than once. */
  readonly reruns: Reruns;
  readonly floorReruns: Reruns;
}

/** Runs `submit` for [from, to) with IN_FLIGHT at a time; adds seconds, latencies and CPU by process to `into`. */
async function round(from: number, to: number, submit: (i: number) => Promise<unknown>, into: { seconds: number; latenciesMs: number[]; cpu: Record<string, number> }): Promise<void> {
  const cpuBefore = cpuByRole(roleOf);
  const started = process.hrtime.bigint();
  let next = from;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < to) {
        const i = next++;
        const t = process.hrtime.bigint();
        await submit(i);
        into.latenciesMs.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }),
  );
  into.seconds += Number(process.hrtime.bigint() - started) / 1e9;
  for (const [role, ms] of Object.entries(difference(cpuByRole(roleOf), cpuBefore))) into.cpu[role] = (into.cpu[role] ?? 0) + ms;
}

/** With BENCH_PROFILE_DIR set, each worker writes a V8 CPU profile (.cpuprofile) there when it stops. */
const PROFILE_ARGS = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_PROFILE_DIR)}`] : [];

function spawnProcess(args: readonly string[], env: NodeJS.ProcessEnv, readyLine?: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...PROFILE_ARGS, '--import', 'tsx', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  if (!readyLine) {
    child.stdout!.resume();
    return Promise.resolve(child);
  }
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes(readyLine)) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function atScale(db: 'sqlite' | 'mysql', hosts: number, mariadb: MariaDb | undefined): Promise<ScaleResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmflow-fleet-'));
  const registryUrl = db === 'sqlite' ? `sqlite:${path.join(dir, 'registry.sqlite')}` : await mariadb!.newDatabase();
  const [temporal, sim] = await Promise.all([startDevServer(), startSim()]);
  const stops: Array<() => Promise<unknown>> = [() => sim.stop(), () => temporal.stop()];
  let client: Vmflow | undefined;
  try {
    const registry = (await openRegistry({ url: registryUrl })) as SqlRegistry;
    stops.unshift(() => registry.close());
    const fillStarted = Date.now();
    await fillFleet(registry, sim.admin, { hosts, containersPerHost: CONTAINERS_PER_HOST, hostCapacity: HOST_CAPACITY, container: CONTAINER, ipPool: IP_POOL });
    const fillSeconds = (Date.now() - fillStarted) / 1000;

    const worker = await spawnProcess(['src/cli/main.ts', 'worker'], {
      VMFLOW_TEMPORAL_ADDRESS: temporal.address,
      VMFLOW_REGISTRY_URL: registryUrl,
      VMFLOW_IP_POOL: IP_POOL,
      VMFLOW_LOG_LEVEL: 'warn',
      // The benchmark measures commands: monitor and collector cycles stay out of the way.
      VMFLOW_MONITOR_INTERVAL: '3600',
      VMFLOW_COLLECTOR_INTERVAL: '3600',
    });
    stops.unshift(() => stopProcess(worker));
    const floorWorker = await spawnProcess(['bench/floor/worker.ts', temporal.address, FLOOR_QUEUE], {}, 'ready');
    stops.unshift(() => stopProcess(floorWorker));
    client = await connect({ temporalAddress: temporal.address, registry });

    const measured: string[] = [];
    const create = async (name: string) => {
      const h = await client!.containers.create(name, { definition: { kind: 'generic', ...CONTAINER } });
      if (name.startsWith('n-')) measured.push(h.workflowId);
      const r = await h.result();
      if (r.state !== 'running') throw new Error(`${name} ended ${r.state}`);
    };
    const floorRun = (id: string) => client!.temporal.workflow.execute('floorWorkflow', { taskQueue: FLOOR_QUEUE, workflowId: id, args: [] });
    // Warm both paths (bundles, caches, connections, the worker's first full read of the hosts).
    for (let i = 0; i < 5; i++) await Promise.all([create(`warm-${i}`), floorRun(`floor-warm-${i}`)]);

    const vmflow = { seconds: 0, latenciesMs: [] as number[], cpu: {} as Record<string, number> };
    const floor = { seconds: 0, latenciesMs: [] as number[], cpu: {} as Record<string, number> };
    const half = Math.floor(CREATES / 2);
    for (const [from, to] of [[0, half], [half, CREATES]] as const) {
      await round(from, to, (i) => floorRun(`floor-${i}`), floor);
      await round(from, to, (i) => create(`n-${String(i).padStart(5, '0')}`), vmflow);
    }

    const snapshot = await registry.hostSnapshot();
    const overCapacity = snapshot.filter((h) => h.used.cpus > h.allowance.cpus || h.used.memoryMiB > h.allowance.memoryMiB || h.used.diskGiB > h.allowance.diskGiB).length;
    const created = await registry.list({ type: 'container', after: 'n-', limit: CREATES + 10 });
    const hostsUsed = new Set(created.filter((c) => c.name.startsWith('n-')).map((c) => c.parentId)).size;
    const load = os.loadavg()[0]!;
    // After the measurement: which activities ran more than once, from each workflow's history.
    let reruns = emptyReruns();
    for (const id of measured) reruns = addReruns(reruns, await client.temporal.workflow.getHandle(id).fetchHistory());
    let floorReruns = emptyReruns();
    for (let i = 0; i < CREATES; i++) floorReruns = addReruns(floorReruns, await client.temporal.workflow.getHandle(`floor-${i}`).fetchHistory());
    return { db, hosts, vmflow, floor, overCapacity, hostsUsed, fillSeconds, load, reruns, floorReruns };
  } finally {
    await client?.close().catch(() => undefined);
    for (const stop of stops) await stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const perSecond = (r: RunFigures) => r.latenciesMs.length / r.seconds;
const cpuPer = (r: RunFigures, role: string) => (r.cpu[role] ?? 0) / r.latenciesMs.length;

async function main(): Promise<void> {
  const loadBefore = os.loadavg();
  const mariadb = DATABASES.includes('mysql') ? await startMariaDb() : undefined;
  const results: ScaleResult[] = [];
  try {
    for (const db of DATABASES) {
      if (db === 'mysql' && !mariadb) {
        console.log('MariaDB: not measured (no mariadbd here: install mariadb-server or set MYSQL_URL)');
        continue;
      }
      for (const hosts of SCALES) {
        const r = await atScale(db, hosts, mariadb);
        results.push(r);
        console.log(`${db}, ${hosts} hosts: ${perSecond(r.vmflow).toFixed(1)} creates/s, floor ${perSecond(r.floor).toFixed(1)}/s (fill ${r.fillSeconds.toFixed(0)} s, load ${r.load.toFixed(1)})`);
        console.log(`  activities of the creates: ${describeReruns(r.reruns)}; of the floor: ${describeReruns(r.floorReruns)}`);
      }
    }
  } finally {
    await mariadb?.stop();
  }

  const table = new Table({
    head: ['registry', 'hosts', 'containers', 'creates/s', 'p50 ms', 'p99 ms', '× 10 hosts', 'floor/s', '× floor', 'worker ms/create', 'temporal ms/create', 'database ms/create', 'sim ms/create', 'client ms/create', 'ran twice', 'over capacity', 'hosts used', 'load 1 min'],
  });
  for (const r of results) {
    const base = results.find((x) => x.db === r.db && x.hosts === Math.min(...SCALES));
    const rate = perSecond(r.vmflow);
    table.push([
      r.db,
      r.hosts.toLocaleString('en'),
      (r.hosts * CONTAINERS_PER_HOST).toLocaleString('en'),
      rate.toFixed(1),
      percentile(r.vmflow.latenciesMs, 50).toFixed(0),
      percentile(r.vmflow.latenciesMs, 99).toFixed(0),
      base ? (rate / perSecond(base.vmflow)).toFixed(2) : '',
      perSecond(r.floor).toFixed(1),
      (rate / perSecond(r.floor)).toFixed(2),
      `${cpuPer(r.vmflow, 'worker').toFixed(1)} (floor ${cpuPer(r.floor, 'floor worker').toFixed(1)})`,
      `${cpuPer(r.vmflow, 'temporal').toFixed(1)} (floor ${cpuPer(r.floor, 'temporal').toFixed(1)})`,
      r.db === 'sqlite' ? 'in worker' : cpuPer(r.vmflow, 'database').toFixed(1),
      cpuPer(r.vmflow, 'sim').toFixed(1),
      cpuPer(r.vmflow, 'bench').toFixed(1),
      `${r.reruns.activities} (floor ${r.floorReruns.activities})`,
      String(r.overCapacity),
      String(r.hostsUsed),
      r.load.toFixed(1),
    ]);
  }
  console.log(`\nbench/fleet: ${CREATES} creates and ${CREATES} floor workflows per scale, ${IN_FLIGHT} in flight, ${CONTAINERS_PER_HOST} containers per host before; node ${process.version}, ${os.cpus().length} cores`);
  console.log(table.toString());
  console.log('ran twice: activities of the measured workflows that ran more than once (a retry, or a local activity whose result a lost workflow task took with it), from their histories');
  console.log('targets: creates/s at 10,000 hosts ≥ 0.9 × at 10 hosts; at 10 hosts ≥ 0.8 × the floor (same run)');
  console.log(`load average (1/5/15 min) before: ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
