// One monitor cycle over a large simulated cluster: seconds per cycle and registry writes per
// cycle. The first cycle records every host; a second cycle with no change should write nothing.
// Usage: npm run bench:monitor [-- HOSTS CONTAINERS]
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import { connect } from '../src/client';
import { TASK_QUEUE } from '../src/domain/names';
import { startDevServer } from '../src/temporal/dev-server';
import { createWorker, openServices } from '../src/worker';
import type { MonitorReport } from '../workflows/monitor';
import { startSim } from '../test/support/sim';

const HOSTS = Number(process.argv[2] ?? 1000);
const CONTAINERS = Number(process.argv[3] ?? 10_000);

async function inParallel(count: number, width: number, work: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) await work(next++);
  }));
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmflow-bench-monitor-'));
  const [temporal, sim] = await Promise.all([startDevServer(), startSim()]);
  const services = await openServices({ registryUrl: `sqlite:${path.join(dir, 'registry.sqlite')}`, ipPool: '10.0.0.0/12' });
  const client = await connect({ temporalAddress: temporal.address, registry: services.registry });
  const connection = await NativeConnection.connect({ address: temporal.address });
  const worker = await createWorker({ connection, client: client.temporal, namespace: 'default', services });
  const running = worker.run();

  const setupStarted = Date.now();
  const capacity = { cpus: 64, memoryMiB: 262144, diskGiB: 10000 };
  const hostIds: string[] = [];
  await inParallel(HOSTS, 16, async (i) => {
    const id = `hv-${String(i).padStart(4, '0')}`;
    await sim.admin.addHost({ id, ...capacity });
    const node = await services.provisioner.provisionHypervisor({ name: id, definition: { driver: 'sim', address: sim.hostAddress(id), capacity } });
    hostIds[i] = node.id;
  });
  await inParallel(CONTAINERS, 16, async (i) => {
    const host = i % HOSTS;
    const name = `c-${String(i).padStart(5, '0')}`;
    const spec = { kind: 'generic', cpus: 1, memoryMiB: 1024, diskGiB: 10 };
    await sim.admin.addVm(`hv-${String(host).padStart(4, '0')}`, { name, state: 'running', ...spec });
    const node = await services.provisioner.provisionContainer({ name, definition: spec, parentId: hostIds[host]! });
    await services.registry.update(node.id, undefined, { state: 'running' });
  });
  const setupSeconds = (Date.now() - setupStarted) / 1000;

  const cycle = async (): Promise<{ seconds: number; report: MonitorReport }> => {
    const started = process.hrtime.bigint();
    const report: MonitorReport = await client.temporal.workflow.execute('monitorCycle', {
      taskQueue: TASK_QUEUE,
      workflowId: `bench-monitor-${randomUUID()}`,
      args: [{ downAfter: 3, contactEverySeconds: 600, pollTimeoutMs: 5000 }],
    });
    return { seconds: Number(process.hrtime.bigint() - started) / 1e9, report };
  };
  const first = await cycle();
  const quiet = await cycle();
  await sim.admin.setVm('hv-0000', 'c-00000', { state: 'stopped' });
  const drift = await cycle();

  console.log(`\nbench/monitor: ${HOSTS} sim hosts, ${CONTAINERS} containers, SQLite registry, batches of 50, 4 in flight (setup ${setupSeconds.toFixed(0)} s)\n`);
  console.table(
    [
      ['first cycle (records every host)', first],
      ['quiet cycle (nothing changed)', quiet],
      ['cycle with one VM stopped behind vmflow’s back', drift],
    ].map(([label, c]) => {
      const { seconds, report } = c as { seconds: number; report: MonitorReport };
      return { cycle: label, seconds: Number(seconds.toFixed(2)), 'hosts polled': report.polled, unreachable: report.unreachable, 'registry writes': report.writes, drifts: report.drifts };
    }),
  );
  console.log(`target: under 10 s per cycle; a quiet cycle writes nothing`);

  worker.shutdown();
  await running;
  await connection.close();
  await client.close();
  await services.close();
  await Promise.all([temporal.stop(), sim.stop()]);
  rmSync(dir, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
