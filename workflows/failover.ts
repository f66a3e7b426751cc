// Hosts that went down: fence them, then rebuild each of their containers with the `restart`
// policy on other hosts, in priority order across all of them (hosts that went down together are
// failed over as one, so a database of one outranks a web server of another when room is short),
// each as a `failover` command through its container's entity. Visible in the Web UI under
// VmflowHypervisor (every host it covers).
import { patched, proxyActivities, setHandler, uuid4 } from '@temporalio/workflow';
import { containerCommands as commands, messageOf } from './command-runtime';
import { type FailoverProgress, MESSAGE_DESCRIPTIONS, failoverProgressQuery } from '../src/domain/messages';
import { fromFailure } from '../src/domain/errors';
import type { FailoverPlan, MaintenanceActivities } from '../activities/maintenance';
import type { MonitorActivities } from '../activities/monitor';

const acts = proxyActivities<MaintenanceActivities & Pick<MonitorActivities, 'notifyEnvironments'>>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', backoffCoefficient: 2 },
});

export interface FailoverInput {
  readonly host: string;
  /** Every host to fail over together (default: `host` alone). */
  readonly hosts?: readonly string[];
  /** Why the host is down, as the monitor saw it. */
  readonly cause: string;
}

export type FailoverReport = FailoverProgress;

/** Consecutive runs of equal priority, in the plan's order. */
function byPriority<T extends { priority: number }>(items: readonly T[]): T[][] {
  const waves: T[][] = [];
  for (const item of items) {
    const last = waves[waves.length - 1];
    if (last && last[0]!.priority === item.priority) last.push(item);
    else waves.push([item]);
  }
  return waves;
}

export async function failoverHost(input: FailoverInput): Promise<FailoverReport> {
  const hosts = input.hosts?.length ? [...input.hosts] : [input.host];
  const restarted: Array<{ name: string; host?: string; from: string }> = [];
  const failed: Array<{ name: string; error: string; code?: string }> = [];
  let fenced = false;
  let stayed: readonly string[] = [];
  const pending: string[] = [];
  const report = (): FailoverReport => ({ host: input.host, ...(hosts.length > 1 ? { hosts } : {}), fenced, restarted: [...restarted], failed: [...failed], stayed });
  setHandler(failoverProgressQuery, () => ({ ...report(), pending: [...pending] }), { description: MESSAGE_DESCRIPTIONS.failoverProgress });
  const plan = await acts.failoverPlan(hosts.length > 1 ? { host: input.host, hosts } : { host: input.host });
  stayed = plan.stay;
  const leaveLost = async (name: string, host: string, error: string, code: string) => {
    failed.push({ name, error, code });
    if (patched('failover-leaves-lost')) await acts.leaveLost({ container: name, reason: `failover from ${host} refused: ${error}` });
  };
  for (const c of plan.exhausted ?? []) await leaveLost(c.name, c.host ?? input.host, c.reason, 'RESTART_LIMIT');
  pending.push(...plan.restart.map((c) => c.name));
  if (!plan.restart.length) return report();
  if (!plan.fenceable) {
    for (const c of plan.restart) failed.push({ name: c.name, error: `${c.host ?? input.host} cannot be fenced; rebuilding ${c.name} elsewhere could run it twice` });
    return report();
  }
  // Nothing is rebuilt before the hosts are powered off: they may only be unreachable, not dead.
  for (const host of hosts) await acts.fenceHost({ host });
  fenced = true;
  const cause = `host down: ${input.cause}`;
  const rebuild = async (c: FailoverPlan['restart'][number]) => {
    const from = c.host ?? input.host;
    try {
      const result = await commands.runContainerCommand({ commandId: uuid4(), container: c.name, command: 'failover', args: { from, cause }, requestedBy: `failover of ${hosts.join(', ')}` });
      restarted.push({ name: c.name, host: result?.host, from });
      if (c.environment && result?.host) await acts.notifyEnvironments({ down: [], up: [{ host: result.host, containers: [{ name: c.name, environment: c.environment }] }] });
    } catch (err) {
      const known = fromFailure(err);
      if (known?.code === 'NO_CAPACITY') await leaveLost(c.name, from, known.message, known.code);
      else failed.push({ name: c.name, error: messageOf(err) });
    }
    pending.splice(pending.indexOf(c.name), 1);
  };
  if (patched('failover-waves')) {
    // One priority at a time, the containers of one priority side by side: a lower priority never
    // takes room before a higher one has claimed its own.
    for (const wave of byPriority(plan.restart)) await Promise.all(wave.map(rebuild));
  } else {
    for (const c of plan.restart) await rebuild(c);
  }
  return report();
}
