// Monitor cycles over large simulated fleets: seconds per cycle and registry writes per cycle, at
// 1,000 and 10,000 hosts of 10 containers each (SQLite registry, in-process worker). The first
// cycle records every host; a quiet cycle must write nothing; a cycle after one VM was stopped
// behind vmflow's back writes that drift alone. Then two collector cycles (batches of hosts per
// activity): seconds, worker CPU, activities and history events per cycle, and the largest payload
// any cycle's history holds (Temporal warns over 512 KB, refuses over 2 MB).
// Usage: npm run bench:monitor [-- HOSTS...]   (default 1000 10000)
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { TASK_QUEUE } from '../src/domain/names';
import { MONITOR_BATCH_SIZE } from '../src/monitor/schedules';
import type { SqlRegistry } from '../src/registry/sql-registry';
import type { CollectorReport, MonitorReport } from '../workflows/monitor';
import { startStack } from '../test/support/stack';
import { containerName, fillFleet, hostName } from './fleet-fill';
import { cpuByRole, difference } from './process-cpu';

const SCALES = process.argv.slice(2).map(Number).filter((n) => n > 0);
const CONTAINERS_PER_HOST = 10;
const IP_POOL = '10.0.0.0/12';

interface History {
  readonly events: number;
  readonly activities: number;
  /** Bytes of the largest payload (an activity's input or result, the workflow's result). */
  readonly largestPayload: number;
}

/** Counts a finished workflow's history: its events, its activities, its largest payload. */
async function historyOf(stack: Awaited<ReturnType<typeof startStack>>, workflowId: string): Promise<History> {
  const events = (await stack.client.temporal.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  let largestPayload = 0;
  const walk = (o: unknown): void => {
    if (!o || typeof o !== 'object' || o instanceof Uint8Array) return;
    const payloads = (o as { payloads?: unknown }).payloads;
    if (Array.isArray(payloads)) largestPayload = Math.max(largestPayload, payloads.reduce((n: number, p: { data?: Uint8Array | null }) => n + (p?.data?.length ?? 0), 0));
    for (const v of Object.values(o)) walk(v);
  };
  events.forEach(walk);
  return { events: events.length, activities: events.filter((e) => e.activityTaskScheduledEventAttributes).length, largestPayload };
}

interface Cycle {
  readonly seconds: number;
  readonly report: MonitorReport | CollectorReport;
  readonly history: History;
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
    const batchSize = Number(process.env.BENCH_BATCH ?? MONITOR_BATCH_SIZE);
    const run = async (type: 'monitorCycle' | 'collectorCycle', options: object): Promise<Cycle> => {
      const workflowId = `bench-${type}-${randomUUID()}`;
      const cpuBefore = cpuByRole(roleOf);
      const started = process.hrtime.bigint();
      const report: MonitorReport | CollectorReport = await stack.client.temporal.workflow.execute(type, { taskQueue: TASK_QUEUE, workflowId, args: [options] });
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const cpu = difference(cpuByRole(roleOf), cpuBefore);
      return { seconds, report, cpu, history: await historyOf(stack, workflowId) };
    };
    const cycle = () => run('monitorCycle', { downAfter: 3, contactEverySeconds: 600, pollTimeoutMs: 5000, batchSize });
    const collect = () => run('collectorCycle', { claimTtlSeconds: 600, orphanGraceSeconds: 3600, pollTimeoutMs: 5000, batchSize });
    const first = await cycle();
    const quiet = await cycle();
    await stack.sim.admin.setVm(hostName('hv-', 0), containerName(0), { state: 'stopped' });
    const drift = await cycle();
    const collectFirst = await collect();
    const collectAgain = await collect();
    return { hosts, setupSeconds, first, quiet, drift, collectFirst, collectAgain, load: os.loadavg()[0]! };
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
      ['monitor: first (records every host)', r.first],
      ['monitor: quiet (nothing changed)', r.quiet],
      ['monitor: one drift (a VM stopped behind vmflow’s back)', r.drift],
      ['collector: first', r.collectFirst],
      ['collector: again', r.collectAgain],
    ] as const) {
      const m = 'polled' in c.report ? c.report : undefined;
      rows.push({
        hosts,
        cycle: label,
        seconds: Number(c.seconds.toFixed(2)),
        'CPU s worker': Number(((c.cpu.bench ?? 0) / 1000).toFixed(2)),
        'CPU s sim': Number(((c.cpu.sim ?? 0) / 1000).toFixed(2)),
        'CPU s temporal': Number(((c.cpu.temporal ?? 0) / 1000).toFixed(2)),
        activities: c.history.activities,
        'history events': c.history.events,
        'largest payload KB': Number((c.history.largestPayload / 1024).toFixed(1)),
        polled: m?.polled ?? '',
        'registry writes': m?.writes ?? '',
        drifts: m?.drifts ?? '',
        destroyed: 'destroyed' in c.report ? c.report.destroyed.length : '',
        'load 1 min': Number(r.load.toFixed(2)),
      });
    }
  }
  console.log(`\nbench/monitor: SQLite registry, in-process worker, sim farm answering batches of hosts (POST /statuses), ${process.env.BENCH_BATCH ?? MONITOR_BATCH_SIZE} hosts per batch (monitor and collector), 4 batches at once; node ${process.version}, ${os.cpus().length} cores\n`);
  console.table(rows);
  console.log(`load average (1/5/15 min) before: ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log('target: every cycle under 10 s at 10,000 hosts; a quiet cycle writes nothing; no payload near 512 KB');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
