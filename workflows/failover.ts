// A host that went down: fence it, then rebuild each of its containers with the `restart` policy
// on other hosts, in priority order, each as a `failover` command through its container's
// entity. One durable command per host, visible in the Web UI under VmflowHypervisor.
import { proxyActivities, setHandler, uuid4 } from '@temporalio/workflow';
import { containerCommands as commands, messageOf } from './command-runtime';
import { type FailoverProgress, MESSAGE_DESCRIPTIONS, failoverProgressQuery } from '../src/domain/messages';
import type { MaintenanceActivities } from '../activities/maintenance';
import type { MonitorActivities } from '../activities/monitor';

const acts = proxyActivities<MaintenanceActivities & Pick<MonitorActivities, 'notifyEnvironments'>>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', backoffCoefficient: 2 },
});

export interface FailoverInput {
  readonly host: string;
  /** Why the host is down, as the monitor saw it. */
  readonly cause: string;
}

export type FailoverReport = FailoverProgress;


export async function failoverHost(input: FailoverInput): Promise<FailoverReport> {
  const restarted: Array<{ name: string; host?: string }> = [];
  const failed: Array<{ name: string; error: string }> = [];
  let fenced = false;
  let stayed: readonly string[] = [];
  const pending: string[] = [];
  const report = (): FailoverReport => ({ host: input.host, fenced, restarted: [...restarted], failed: [...failed], stayed });
  setHandler(failoverProgressQuery, () => ({ ...report(), pending: [...pending] }), { description: MESSAGE_DESCRIPTIONS.failoverProgress });
  const plan = await acts.failoverPlan({ host: input.host });
  stayed = plan.stay;
  pending.push(...plan.restart.map((c) => c.name));
  if (!plan.restart.length) return report();
  if (!plan.fenceable) {
    for (const c of plan.restart) failed.push({ name: c.name, error: `${input.host} cannot be fenced; rebuilding ${c.name} elsewhere could run it twice` });
    return report();
  }
  // Nothing is rebuilt before the host is powered off: it may only be unreachable, not dead.
  await acts.fenceHost({ host: input.host });
  fenced = true;
  const cause = `host down: ${input.cause}`;
  for (const c of plan.restart) {
    try {
      const result = await commands.runContainerCommand({ commandId: uuid4(), container: c.name, command: 'failover', args: { from: input.host, cause }, requestedBy: `failover of ${input.host}` });
      restarted.push({ name: c.name, host: result?.host });
      if (c.environment && result?.host) await acts.notifyEnvironments({ down: [], up: [{ host: result.host, containers: [{ name: c.name, environment: c.environment }] }] });
    } catch (err) {
      failed.push({ name: c.name, error: messageOf(err) });
    }
    pending.shift();
  }
  return report();
}
