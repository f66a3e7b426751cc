// 200 creates on the production topology — a 4-shard Temporal server on PostgreSQL — against the
// same on the Temporal dev server (SQLite, one shard), with one worker and then two. Everything
// else is alike: vmflow from dist/ as separate processes, the registry on MariaDB, the sim with
// no delays, BENCH_HOSTS hosts (default 60), creates submitted BENCH_IN_FLIGHT at a time (default
// 50) by a client in this process.
// Needs the tools and dist/ (`npm run test:production` builds both, or `npm run build`).
// Usage: npm run bench:production [-- N]
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect } from '../src/client';
import { openRegistry } from '../src/registry';
import { startDevServer } from '../src/temporal/dev-server';
import { deployVmflow, runVmflow, startCluster, type Site } from '../scripts/production/cluster';
import { startRegistryDatabase } from '../scripts/production/mariadb';
import { NAMESPACE, RETENTION } from '../scripts/production/versions';

const N = Number(process.argv[2] ?? 200);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 50);
const HOSTS = Number(process.env.BENCH_HOSTS ?? 60);
const definition = { kind: 'generic', cpus: 1, memoryMiB: 512, diskGiB: 1 };

interface Run {
  readonly backend: string;
  readonly workers: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50: number;
  readonly p95: number;
}

const log = (line: string) => console.error(`  ${line}`);

/** `count` creates, IN_FLIGHT at a time; each measured from submit to its result. */
async function creates(site: Site, address: string, prefix: string, count = N): Promise<Omit<Run, 'backend' | 'workers'>> {
  const registry = await openRegistry({ url: site.env.VMFLOW_REGISTRY_URL! });
  const client = await connect({ temporalAddress: address, namespace: NAMESPACE, registry });
  try {
    const latencies: number[] = [];
    let next = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < count) {
          const i = next++;
          const t = Date.now();
          const r = await (await client.containers.create(`${prefix}-${i}`, { definition })).result();
          if (r.state !== 'running') throw new Error(`${prefix}-${i} ended ${r.state}`);
          latencies.push(Date.now() - t);
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    return { seconds, perSecond: count / seconds, p50: latencies[Math.floor(count * 0.5)]! / 1000, p95: latencies[Math.floor(count * 0.95)]! / 1000 };
  } finally {
    await client.close();
    await registry.close();
  }
}

/** Sets vmflow up on `address`, deploys one worker, runs N creates, adds a worker, runs N more. */
async function bench(backend: string, site: Site, address: string): Promise<Run[]> {
  const setup = runVmflow(['temporal', 'setup', '--address', address, '--namespace', NAMESPACE, '--retention', RETENTION], site.env);
  if (setup.status !== 0) throw new Error(`vmflow temporal setup failed: ${setup.stderr}`);
  const vmflow = await deployVmflow(site, { workers: 1, log });
  try {
    // Enough hosts that placement rarely has two creates race for one host's claim.
    for (let i = 0; i < HOSTS; i++) {
      const name = `hv-${i}`;
      const capacity = { cpus: 64, memoryMiB: 65536, diskGiB: 10000 };
      await vmflow.sim.admin.addHost({ id: name, ...capacity });
      await vmflow.api.client.post('/v1/hypervisors', { name, definition: { driver: 'sim', address: vmflow.sim.admin.hostAddress(name), capacity } });
    }
    // Warm the path (connections, caches, the workflow cache) so it is not measured.
    await creates(site, address, `warm-${randomUUID().slice(0, 4)}`, 10);
    const runs: Run[] = [];
    for (const workers of [1, 2]) {
      if (workers === 2) await vmflow.startWorker();
      log(`${backend}: ${N} creates with ${workers} worker(s)`);
      runs.push({ backend, workers, ...(await creates(site, address, `w${workers}`)) });
    }
    return runs;
  } finally {
    await vmflow.stop();
  }
}

async function main(): Promise<void> {
  const runs: Run[] = [];

  const cluster = await startCluster({ log, ui: false });
  try {
    runs.push(...(await bench('Temporal 1.32.1, 4 shards, PostgreSQL', cluster, cluster.temporal.address)));
  } finally {
    await cluster.stop();
  }

  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmflow-bench-dev-'));
  const [dev, registry] = await Promise.all([startDevServer({ dbFile: path.join(dir, 'temporal.db') }), startRegistryDatabase()]);
  try {
    const env = { ...cluster.env, VMFLOW_TEMPORAL_ADDRESS: dev.address, VMFLOW_REGISTRY_URL: registry.url, VMFLOW_DATA_DIR: path.join(dir, 'vmflow') };
    runs.push(...(await bench('dev server (SQLite file, 1 shard)', { dir, env }, dev.address)));
  } finally {
    await dev.stop();
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  console.log(`\n${N} creates, ${IN_FLIGHT} in flight, vmflow from dist/, registry on MariaDB, sim without delays\n`);
  console.log('| backend | workers | seconds | creates/s | p50 s | p95 s |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of runs) console.log(`| ${r.backend} | ${r.workers} | ${r.seconds.toFixed(1)} | ${r.perSecond.toFixed(1)} | ${r.p50.toFixed(2)} | ${r.p95.toFixed(2)} |`);
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
