// One monitor cycle over a large simulated cluster: seconds per cycle and registry writes per
// cycle. The first cycle records every host; a second cycle with no change should write nothing.
// Usage: npm run bench:monitor [-- HOSTS CONTAINERS]
import { randomUUID } from 'node:crypto';
import { TASK_QUEUE } from '../src/domain/names';
import type { MonitorReport } from '../workflows/monitor';
import { startStack } from '../test/support/stack';

const HOSTS = Number(process.argv[2] ?? 1000);
const CONTAINERS = Number(process.argv[3] ?? 10_000);

async function inParallel(count: number, width: number, work: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) await work(next++);
  }));
}

async function main(): Promise<void> {
  const stack = await startStack({ faultInjection: false, ipPool: '10.0.0.0/12' });
  const { sim, services, client } = stack;

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

  await stack.stop();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
