// Creates N containers end to end on the embedded stack (Temporal dev server, sim with zero
// delay, SQLite registry, in-process worker), and in the same run the raw Temporal floor: a
// no-op workflow with the same activities as a create (three local, one regular), on a worker
// with the same settings. The creates place through the product path (the worker's Placer) over
// BENCH_HOSTS sim hosts (default 200), BENCH_IN_FLIGHT at a time (default 100).
// Usage: npm run bench:commands [-- N]
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { startStack } from '../test/support/stack';
import { WORKFLOW_TASK_SLOTS } from '../src/worker';

const N = Number(process.argv[2] ?? 500);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 100);
const HOSTS = Number(process.env.BENCH_HOSTS ?? 200);
/** The vmflow worker's default activity concurrency; the floor worker gets the same. */
const CONCURRENCY = 100;

/** Runs `submit` for indexes [from, to) with IN_FLIGHT at a time; returns the seconds taken. */
async function round(from: number, to: number, submit: (i: number) => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  let next = from;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < to) await submit(next++);
    }),
  );
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/**
 * Alternates the two runs in halves (floor, vmflow, floor, vmflow) so that load from anything
 * else on the machine falls on both alike.
 */
async function interleaved(runs: Array<{ label: string; submit: (i: number) => Promise<unknown> }>, count: number) {
  const seconds = runs.map(() => 0);
  const half = Math.floor(count / 2);
  for (const [from, to] of [
    [0, half],
    [half, count],
  ] as const) {
    for (const [r, run] of runs.entries()) seconds[r]! += await round(from, to, run.submit);
  }
  return runs.map((run, r) => ({ label: run.label, seconds: seconds[r]!, perSecond: count / seconds[r]! }));
}

async function main(): Promise<void> {
  const stack = await startStack({ faultInjection: false });
  const { sim, services, client } = stack;
  const connection = await NativeConnection.connect({ address: stack.temporal.address });

  const floorWorker = await Worker.create({
    connection,
    namespace: 'default',
    taskQueue: 'bench-floor',
    workflowBundle: await bundleWorkflowCode({ workflowsPath: require.resolve('./floor/workflows'), logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error } }),
    activities: { noop: async (step: string) => step },
    maxConcurrentActivityTaskExecutions: CONCURRENCY,
    maxConcurrentWorkflowTaskExecutions: WORKFLOW_TASK_SLOTS,
    maxCachedWorkflows: 2000,
  });
  const floorRunning = floorWorker.run();

  const hosts = Math.max(HOSTS, Math.ceil(N / 60) + 1);
  for (let i = 0; i < hosts; i++) {
    const id = `b-${i}`;
    const capacity = { cpus: 64, memoryMiB: 65536, diskGiB: 10000 };
    await sim.admin.addHost({ id, ...capacity });
    await services.provisioner.provisionHypervisor({ name: id, definition: { driver: 'sim', address: sim.hostAddress(id), capacity } });
  }

  // Warm both paths so bundling, caches and connections are not measured.
  await client.temporal.workflow.execute('floorWorkflow', { taskQueue: 'bench-floor', workflowId: 'floor-warm', args: [] });
  await (await client.containers.create('warm', { definition: { kind: 'generic', cpus: 1, memoryMiB: 512, diskGiB: 1 } })).result();

  const [floor, vmflow] = await interleaved(
    [
      {
        label: 'raw Temporal floor (no-op workflow, same activities)',
        submit: (i) => client.temporal.workflow.execute('floorWorkflow', { taskQueue: 'bench-floor', workflowId: `floor-${i}`, args: [] }),
      },
      {
        label: 'vmflow createContainer (command workflow + registry + sim)',
        submit: async (i) => {
          const h = await client.containers.create(`c${i}`, { definition: { kind: 'generic', cpus: 1, memoryMiB: 512, diskGiB: 1 } });
          const r = await h.result();
          if (r.state !== 'running') throw new Error(`c${i} ended ${r.state}`);
        },
      },
    ],
    N,
  );
  const placed = await services.registry.count({ type: 'container' });
  const rss = process.memoryUsage().rss / 2 ** 20;

  console.log(`\nbench/commands: N = ${N}, ${IN_FLIGHT} in flight, worker concurrency ${CONCURRENCY}, ${hosts} sim hosts, zero sim delay\n`);
  console.table(
    [floor!, vmflow!].map((r) => ({ run: r.label, seconds: Number(r.seconds.toFixed(2)), 'per second': Number(r.perSecond.toFixed(1)) })),
  );
  console.log(`ratio vmflow / floor: ${(vmflow!.perSecond / floor!.perSecond).toFixed(3)} (target >= 0.8)`);
  console.log(`containers placed: ${placed - 1} of ${N}`);
  const perHost = new Map<string, number>();
  for (const c of await services.registry.list({ type: 'container' })) if (c.parentId) perHost.set(c.parentId, (perHost.get(c.parentId) ?? 0) + 1);
  console.log(`hosts holding containers: ${perHost.size} of ${hosts}, at most ${Math.max(0, ...perHost.values())} on one`);
  console.log(`worker RSS at the end: ${rss.toFixed(0)} MiB (worker, client, registry and bench share this process)`);

  floorWorker.shutdown();
  await floorRunning;
  await connection.close();
  await stack.stop();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
