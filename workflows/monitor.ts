// The monitor and the collector. Each cycle is a function that also runs as a workflow of its own
// (`monitorCycle`, `collectorCycle`: one cycle on demand); in production one long-lived workflow
// each (`monitorLoop`, `collectorLoop`) runs the cycles at their interval and continues as new
// now and then, so the namespace's workflow list is not filled with a run per cycle.
import {
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import { type CycleRecord, type CycleSettings, MESSAGE_DESCRIPTIONS, cycleSettingsSignal, loopStatusQuery, pauseCyclesUpdate } from '../src/domain/messages';
import { SEARCH_ATTRIBUTE_KEYS, workflowIds } from '../src/domain/names';
import { failoverHost } from './failover';
import type { BatchReport, MonitoredHost, MonitorActivities, MonitorSettings } from '../activities/monitor';
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
  const batchSize = options.batchSize ?? 50;
  let hostCount: number;
  let agents: MonitoredHost[];
  let reports: BatchReport[];
  if (patched('host-ranges')) {
    // Ranges of host ids, not the hosts: the history grows with the batches, not the fleet.
    const fleet = await acts.hostBatches({ batchSize });
    hostCount = fleet.hosts;
    agents = fleet.agents;
    reports = await bounded(fleet.ranges, options.parallelBatches ?? 4, (range) => acts.monitorBatch({ range, settings }));
  } else {
    const hosts = await acts.monitoredHosts();
    hostCount = hosts.length;
    const central = hosts.filter((h) => !h.ref).map((h) => h.id);
    agents = hosts.filter((h) => h.ref);
    reports = await bounded(chunks(central, batchSize), options.parallelBatches ?? 4, (hostIds) => acts.monitorBatch({ hostIds, settings }));
  }
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
  // The hosts that went down get one durable failover command, which outlives this cycle: one
  // for all of them, so their containers come back in one priority order.
  if (all.down.length && patched('failover-on-down')) {
    const cause = `${options.downAfter} polls in a row failed`;
    const groups = patched('failover-together') ? [all.down.map((d) => d.host)] : all.down.map((d) => [d.host]);
    for (const hostsDown of groups) {
      const host = hostsDown[0]!;
      await startChild(failoverHost, {
        workflowId: workflowIds.hypervisorCommand(host, 'failover', uuid4()),
        args: [hostsDown.length > 1 ? { host, hosts: hostsDown, cause } : { host, cause }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        typedSearchAttributes: [
          { key: SEARCH_ATTRIBUTE_KEYS.hypervisor, value: hostsDown },
          { key: SEARCH_ATTRIBUTE_KEYS.command, value: 'failover' },
        ],
        staticSummary: `fail over the containers of ${hostsDown.join(', ')}`,
      });
    }
  }
  return { ...all, settled, hosts: hostCount, down: all.down.map((d) => d.host), up: all.up.map((u) => u.host), environmentsNotified };
}

export interface CollectorOptions {
  readonly claimTtlSeconds: number;
  readonly orphanGraceSeconds: number;
  /** Hosts collected by one activity. */
  readonly batchSize?: number;
  /** Batches in flight at once. */
  readonly parallelBatches?: number;
  /** A host that takes longer than this to answer is collected on a later cycle. */
  readonly pollTimeoutMs?: number;
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
  const destroyed: string[] = [];
  const adopted: string[] = [];
  if (patched('collect-batches')) {
    // Agent-polled hosts are not collected centrally, as before.
    const { ranges } = await acts.hostBatches({ batchSize: options.batchSize ?? 200 });
    await bounded(ranges, options.parallelBatches ?? 4, async (range) => {
      try {
        const done = await acts.collectBatch({ range, graceSeconds: options.orphanGraceSeconds, pollTimeoutMs: options.pollTimeoutMs ?? 10_000 });
        destroyed.push(...done.destroyed);
        adopted.push(...done.adopted);
      } catch {
        // A batch the registry could not serve is collected on a later cycle.
      }
    });
    return { placeholdersRemoved: placeholders.removed, placeholdersExtended: placeholders.extended, abandonedRemoved, destroyed: destroyed.sort(), adopted: adopted.sort() };
  }
  const hosts = await acts.monitoredHosts();
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

export interface LoopInput<O> {
  readonly everySeconds: number;
  readonly options: O;
  readonly paused?: boolean;
  /** Cycles in one run before it continues as new (sooner when the server suggests it). */
  readonly cyclesPerRun?: number;
  readonly last?: CycleRecord | null;
}

const CYCLES_PER_RUN = 500;

/**
 * Runs `cycle` every `everySeconds` (counted from the end of the previous cycle, or from the last
 * change of settings), one at a time, until paused. A cycle that fails is recorded and the next
 * one runs on time: the monitor must not stop because one host answered badly.
 */
async function repeat<O, R>(input: LoopInput<O>, cycle: (options: O) => Promise<R>, next: (input: LoopInput<O>) => Promise<never>): Promise<never> {
  let { everySeconds, options } = input;
  let paused = input.paused ?? false;
  let last: CycleRecord<R> | null = (input.last as CycleRecord<R> | null | undefined) ?? null;
  let running = false;
  let changed = false;
  setHandler(
    cycleSettingsSignal,
    (s: CycleSettings) => {
      const valid = (typeof s?.everySeconds === 'number' && s.everySeconds > 0) || s?.everySeconds === undefined;
      if (!valid || (s.options !== undefined && (s.options === null || typeof s.options !== 'object'))) return;
      const after = { everySeconds: s.everySeconds ?? everySeconds, options: (s.options as O | undefined) ?? options };
      if (JSON.stringify(after) === JSON.stringify({ everySeconds, options })) return;
      ({ everySeconds, options } = after);
      changed = true;
    },
    { description: MESSAGE_DESCRIPTIONS.settings },
  );
  setHandler(
    pauseCyclesUpdate,
    async ({ paused: p }) => {
      paused = p;
      changed = true;
      await condition(() => !running);
      return { paused };
    },
    { description: MESSAGE_DESCRIPTIONS.pause },
  );
  setHandler(loopStatusQuery, () => ({ everySeconds, options: options as object, paused, last }), { description: MESSAGE_DESCRIPTIONS.loopStatus });

  const perRun = input.cyclesPerRun ?? CYCLES_PER_RUN;
  for (let cycles = 0; cycles < perRun && !workflowInfo().continueAsNewSuggested; ) {
    // A full interval passes first; a change of settings starts it again, a pause holds it.
    for (;;) {
      changed = false;
      if (paused) await condition(() => changed);
      else if (!(await condition(() => changed, everySeconds * 1000))) break;
    }
    running = true;
    const startedAt = Date.now();
    try {
      const report = await cycle(options);
      last = { startedAt: new Date(startedAt).toISOString(), durationMs: Date.now() - startedAt, report };
    } catch (err) {
      if (isCancellation(err)) throw err;
      last = { startedAt: new Date(startedAt).toISOString(), durationMs: Date.now() - startedAt, error: String((err as Error)?.cause ?? err) };
    } finally {
      running = false;
    }
    cycles++;
  }
  await condition(allHandlersFinished);
  return next({ everySeconds, options, paused, cyclesPerRun: input.cyclesPerRun, last });
}

/** The monitor: a cycle every `everySeconds`, for as long as vmflow runs (workflow id vmflow-monitor). */
export async function monitorLoop(input: LoopInput<MonitorOptions>): Promise<never> {
  return repeat(input, monitorCycle, (next) => continueAsNew<typeof monitorLoop>(next));
}

/** The collector: a cycle every `everySeconds`, for as long as vmflow runs (workflow id vmflow-collector). */
export async function collectorLoop(input: LoopInput<CollectorOptions>): Promise<never> {
  return repeat(input, collectorCycle, (next) => continueAsNew<typeof collectorLoop>(next));
}
