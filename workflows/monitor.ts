// The monitor and the collector, each one cycle per run; Temporal Schedules run them.
import { ParentClosePolicy, patched, proxyActivities, startChild, uuid4 } from '@temporalio/workflow';
import { SEARCH_ATTRIBUTE_KEYS, workflowIds } from '../src/domain/names';
import { failoverHost } from './failover';
import type { BatchReport, MonitorActivities, MonitorSettings } from '../activities/monitor';
import type { CollectorActivities } from '../activities/collector';
import type { HostActivities } from '../activities/hosts';
import { hostActivities } from './command-runtime';

const acts = proxyActivities<MonitorActivities & CollectorActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '10 seconds', maximumAttempts: 5 },
});

export interface MonitorOptions extends MonitorSettings {
  /** Hosts polled by one activity. */
  readonly batchSize?: number;
  /** Batches in flight at once. */
  readonly parallelBatches?: number;
}

export interface MonitorReport extends Omit<BatchReport, 'down' | 'up'> {
  readonly hosts: number;
  readonly down: string[];
  readonly up: string[];
  readonly environmentsNotified: number;
  /** Unknown containers settled from the hosts' answers. */
  readonly settled: number;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Runs `work` over `items` with at most `limit` in flight. */
async function bounded<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!);
    }
  });
  await Promise.all(lanes);
  return results;
}

/** One monitor cycle: poll every host in bounded parallel batches and make the registry follow. */
export async function monitorCycle(options: MonitorOptions): Promise<MonitorReport> {
  const settings: MonitorSettings = { downAfter: options.downAfter, contactEverySeconds: options.contactEverySeconds, pollTimeoutMs: options.pollTimeoutMs };
  const hosts = await acts.monitoredHosts();
  const central = hosts.filter((h) => !h.ref).map((h) => h.id);
  const agents = hosts.filter((h) => h.ref);
  const reports = await bounded(chunks(central, options.batchSize ?? 50), options.parallelBatches ?? 4, (hostIds) => acts.monitorBatch({ hostIds, settings }));
  for (const h of agents) {
    const ref = h.ref!;
    const agent: HostActivities = hostActivities(ref);
    let status = null;
    let error: string | undefined;
    try {
      status = await agent.hostStatus({ host: ref });
    } catch (err) {
      error = String((err as Error)?.cause ?? err);
    }
    reports.push(await acts.recordAgentPoll({ hostId: h.id, status, error, settings }));
  }
  const all = reports.reduce(
    (a, r) => ({
      polled: a.polled + r.polled,
      unreachable: a.unreachable + r.unreachable,
      writes: a.writes + r.writes,
      drifts: a.drifts + r.drifts,
      orphans: a.orphans + r.orphans,
      missing: a.missing + (r.missing ?? 0),
      adopted: a.adopted + (r.adopted ?? 0),
      down: [...a.down, ...r.down],
      up: [...a.up, ...r.up],
    }),
    { polled: 0, unreachable: 0, writes: 0, drifts: 0, orphans: 0, missing: 0, adopted: 0, down: [] as BatchReport['down'], up: [] as BatchReport['up'] },
  );
  // Containers an undo left unknown are settled from what the hosts report.
  const settled = patched('settle-unknown') ? (await acts.settleUnknown()).settled : 0;
  const environmentsNotified = all.down.length || all.up.length ? await acts.notifyEnvironments({ down: all.down, up: all.up }) : 0;
  // Each host that went down gets one durable failover command, which outlives this cycle.
  if (all.down.length && patched('failover-on-down')) {
    for (const d of all.down) {
      await startChild(failoverHost, {
        workflowId: workflowIds.hypervisorCommand(d.host, 'failover', uuid4()),
        args: [{ host: d.host, cause: `${options.downAfter} polls in a row failed` }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        typedSearchAttributes: [
          { key: SEARCH_ATTRIBUTE_KEYS.hypervisor, value: [d.host] },
          { key: SEARCH_ATTRIBUTE_KEYS.command, value: 'failover' },
        ],
        staticSummary: `fail over the containers of ${d.host}`,
      });
    }
  }
  return { ...all, settled, hosts: hosts.length, down: all.down.map((d) => d.host), up: all.up.map((u) => u.host), environmentsNotified };
}

export interface CollectorOptions {
  readonly claimTtlSeconds: number;
  readonly orphanGraceSeconds: number;
}

export interface CollectorReport {
  readonly placeholdersRemoved: number;
  readonly placeholdersExtended: number;
  readonly abandonedRemoved: number;
  readonly destroyed: string[];
  /** Containers found only where the registry did not place them, and moved there. */
  readonly adopted: string[];
}

/** One collector cycle: expired placeholders, abandoned containers, illegal copies and old orphans. */
export async function collectorCycle(options: CollectorOptions): Promise<CollectorReport> {
  const placeholders = await acts.collectPlaceholders({ ttlSeconds: options.claimTtlSeconds });
  const abandonedRemoved = await acts.collectAbandoned({ ttlSeconds: options.claimTtlSeconds });
  const hosts = await acts.monitoredHosts();
  const destroyed: string[] = [];
  const adopted: string[] = [];
  await bounded(hosts.filter((h) => !h.ref), 4, async (h) => {
    try {
      const done = await acts.collectHost({ hostId: h.id, graceSeconds: options.orphanGraceSeconds });
      destroyed.push(...done.destroyed);
      adopted.push(...(done.adopted ?? []));
    } catch {
      // A host that does not answer is collected on a later cycle.
    }
  });
  return { placeholdersRemoved: placeholders.removed, placeholdersExtended: placeholders.extended, abandonedRemoved, destroyed: destroyed.sort(), adopted: adopted.sort() };
}
