// Monitor cycles over large simulated fleets: seconds per cycle and registry writes per cycle, at
// 1,000 and 10,000 hosts of 10 containers each (SQLite registry, in-process worker). The first
// cycle records every host; a quiet cycle must write nothing; a cycle after one VM was stopped
// behind vmflow's back writes that drift alone.
// Usage: npm run bench:monitor [-- HOSTS...]   (default 1000 10000)
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { TASK_QUEUE } from '../src/domain/names';
import { MONITOR_BATCH_SIZE } from '../src/monitor/schedules';
import type { SqlRegistry } from '../src/registry/sql-registry';
import type { MonitorReport } from '../workflows/monitor';
import { startStack } from '../test/support/stack';
import { containerName, fillFleet, hostName } from './fleet-fill';
import { cpuByRole, difference } from './process-cpu';

const SCALES = process.argv.slice(2).map(Number).filter((n) => n > 0);
const CONTAINERS_PER_HOST = 10;
const IP_POOL = '10.0.0.0/12';

interface Cycle {
  readonly seconds: number;
  readonly report: MonitorReport;
  /** CPU seconds by process: this one (the worker and its SQLite), the sim, the Temporal server. */
  readonly cpu: Record<string, number>;
}

const roleOf = (cmdline: string) => (/\bserver start-dev\b/.test(cmdline) ? 'temporal' : cmdline.includes('src/sim/main.ts') ? 'sim' : undefined);

async function atScale(hosts: number) {
  const stack = await startStack({ faultInjection: false, ipPool: IP_POOL });
  try {
    const setupStarted = Date.now();
    await fillFleet(stack.services.registry as SqlRegistry, stack.sim.admin, {
      hosts,
      containersPerHost: CONTAINERS_PER_HOST,
      hostCapacity: { cpus: 64, memoryMiB: 262144, diskGiB: 10000 },
      container: { cpus: 1, memoryMiB: 1024, diskGiB: 10 },
      ipPool: IP_POOL,
    });
    const setupSeconds = (Date.now() - setupStarted) / 1000;
    const cycle = async (): Promise<Cycle> => {
      const cpuBefore = cpuByRole(roleOf);
      const started = process.hrtime.bigint();
      const report: MonitorReport = await stack.client.temporal.workflow.execute('monitorCycle', {
        taskQueue: TASK_QUEUE,
        workflowId: `bench-monitor-${randomUUID()}`,
        args: [{ downAfter: 3, contactEverySeconds: 600, pollTimeoutMs: 5000, batchSize: Number(process.env.BENCH_BATCH ?? MONITOR_BATCH_SIZE) }],
      });
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      return { seconds, report, cpu: difference(cpuByRole(roleOf), cpuBefore) };
    };
    const first = await cycle();
    const quiet = await cycle();
    await stack.sim.admin.setVm(hostName('hv-', 0), containerName(0), { state: 'stopped' });
    const drift = await cycle();
    return { hosts, setupSeconds, first, quiet, drift, load: os.loadavg()[0]! };
  } finally {
    await stack.stop();
  }
}

async function main(): Promise<void> {
  const scales = SCALES.length ? SCALES : [1000, 10_000];
  const loadBefore = os.loadavg();
  const rows = [];
  for (const hosts of scales) {
    const r = await atScale(hosts);
    console.log(`${hosts} hosts: set up in ${r.setupSeconds.toFixed(0)} s`);
    for (const [label, c] of [
      ['first (records every host)', r.first],
      ['quiet (nothing changed)', r.quiet],
      ['one drift (a VM stopped behind vmflow’s back)', r.drift],
    ] as const) {
      rows.push({
        hosts,
        containers: hosts * CONTAINERS_PER_HOST,
        cycle: label,
        seconds: Number(c.seconds.toFixed(2)),
        'CPU s worker': Number(((c.cpu.bench ?? 0) / 1000).toFixed(2)),
        'CPU s sim': Number(((c.cpu.sim ?? 0) / 1000).toFixed(2)),
        'CPU s temporal': Number(((c.cpu.temporal ?? 0) / 1000).toFixed(2)),
        polled: c.report.polled,
        unreachable: c.report.unreachable,
        'registry writes': c.report.writes,
        drifts: c.report.drifts,
        'load 1 min': Number(r.load.toFixed(2)),
      });
    }
  }
  console.log(`\nbench/monitor: SQLite registry, in-process worker, sim farm answering batches of hosts (POST /statuses), ${process.env.BENCH_BATCH ?? MONITOR_BATCH_SIZE} hosts per batch, 4 batches at once; node ${process.version}, ${os.cpus().length} cores\n`);
  console.table(rows);
  console.log(`load average (1/5/15 min) before: ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log('target: every cycle under 10 s at 10,000 hosts; a quiet cycle writes nothing');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
