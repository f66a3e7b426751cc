// The raw Temporal floor for bench/commands: a workflow with the same activity shape as a
// container create — two local activities (register, claim), one activity (build on the host),
// one local activity (commit) — each doing nothing.
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';

type Noop = { noop(step: string): Promise<string> };
const local = proxyLocalActivities<Noop>({ startToCloseTimeout: '1 minute' });
const remote = proxyActivities<Noop>({ startToCloseTimeout: '1 minute' });

export async function floorWorkflow(): Promise<string[]> {
  return [await local.noop('register'), await local.noop('claim'), await remote.noop('build'), await local.noop('commit')];
}
