// The raw Temporal floor's worker, as a process of its own like the vmflow worker it is compared
// with: same activity and workflow-task concurrency, same workflow cache. Prints `ready` once polling.
// Usage: tsx bench/floor/worker.ts <temporal address> <task queue>
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { WORKFLOW_TASK_SLOTS } from '../../src/worker';

const [address = '127.0.0.1:7233', taskQueue = 'bench-floor'] = process.argv.slice(2);
const CONCURRENCY = 100;
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error };

async function main(): Promise<void> {
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection,
    namespace: 'default',
    taskQueue,
    workflowBundle: await bundleWorkflowCode({ workflowsPath: require.resolve('./workflows'), logger: quiet }),
    activities: { noop: async (step: string) => step },
    maxConcurrentActivityTaskExecutions: CONCURRENCY,
    maxConcurrentWorkflowTaskExecutions: WORKFLOW_TASK_SLOTS,
    maxCachedWorkflows: 2000,
  });
  const running = worker.run();
  process.stdout.write('ready\n');
  const stop = () => worker.shutdown();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await running;
  await connection.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
