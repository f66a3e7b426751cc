// The monitor's activities: it polls hosts through their drivers and makes the registry follow
// reality — state drift, hosts down and back, missing VMs and where they turned up, unknown
// containers settled. Every state change it makes is kept as an event on the node it changed.
import type { Client } from '@temporalio/client';
import { META, type HypervisorDefinition, type JsonObject, type NodeRecord, type PlaceholderDefinition } from '../src/domain/types';
import { workflowIds } from '../src/domain/names';
import type { DriverRegistry, HostRef, HostStatus } from '../src/drivers/driver';
import { entityStatusQuery, observedSignal } from '../src/domain/messages';
import { EnvironmentCommands } from '../src/service/commands';
import { reconcileHost, registryStateOf, type Drift, type HostPoll, type HostVerdict, type RegisteredContainer } from '../src/monitor/reconcile';
import { applySettlement, count, settle, type Copy } from '../src/monitor/settle';
import { isOurs, locate } from './hosts';
import { guarded, watchEntities } from './entity-watch';
import type { Registry } from '../src/registry/types';
import { hostRef } from '../src/drivers/refs';
import { hostStatuses } from '../src/monitor/fleet-status';
import { hostBatches, hostsIn } from '../src/monitor/host-batches';
import type { HostRange } from '../src/registry/types';

export interface MonitorSettings {
  /** Failed polls in a row before a host is down. */
  readonly downAfter: number;
  readonly contactEverySeconds: number;
  /** A host that takes longer than this to answer counts as a failed poll. */
  readonly pollTimeoutMs: number;
}

/** A node on a host as a poll compares it: placeholders carry the name of their container. */
type OnHost = Pick<NodeRecord, 'id' | 'type' | 'name' | 'state' | 'parentId' | 'version'> & { readonly containerName?: string };

type MetadataMerge = { readonly id: string; readonly metadata: JsonObject };

export interface MonitoredHost {
  readonly id: string;
  readonly name: string;
  /** Set for hosts with an agent: their status comes from the agent's queue. */
  readonly ref?: HostRef;
}

export interface HostChange {
  readonly host: string;
  readonly containers: ReadonlyArray<{ name: string; environment?: string }>;
}

export interface BatchReport {
  readonly polled: number;
  readonly unreachable: number;
  readonly writes: number;
  readonly down: HostChange[];
  readonly up: HostChange[];
  readonly drifts: number;
  readonly orphans: number;
  /** Containers flagged missing: their host answers without them. */
  readonly missing: number;
  /** Containers found on another host than the registry said, and moved there. */
  readonly adopted: number;
}

export const EMPTY_REPORT: BatchReport = { polled: 0, unreachable: 0, writes: 0, down: [], up: [], drifts: 0, orphans: 0, missing: 0, adopted: 0 };

const BY = { monitor: 'monitor' } as const;

export function createMonitorActivities(deps: { registry: Registry; drivers: DriverRegistry; temporal: Client }) {
  const { registry, drivers, temporal } = deps;
  const { busy, tellEntity } = watchEntities(temporal);

  async function poll(host: NodeRecord, status: HostStatus | undefined, error: string | undefined): Promise<HostPoll> {
    const children = (await registry.children(host.id)).map((c) => ({
      ...c,
      ...(c.type === 'placeholder' ? { containerName: (c.definition as PlaceholderDefinition).containerName } : {}),
    }));
    return pollOf(host, children, status, error);
  }

  /** Makes the registry follow one host's poll; each step records its writes. */
  async function apply(pollResult: HostPoll, settings: MonitorSettings, status?: HostStatus, metadataLater?: MetadataMerge[]): Promise<BatchReport> {
    const verdict = reconcileHost(pollResult, { now: new Date(), downAfter: settings.downAfter, contactEverySeconds: settings.contactEverySeconds });
    const host = pollResult.hostName;
    let writes = await recordHostVerdict(pollResult, verdict, settings, metadataLater);
    const down: HostChange[] = [];
    const up: HostChange[] = [];
    if (verdict.lost.length) {
      const lost = await markLost(host, verdict.lost);
      writes += lost.writes;
      down.push({ host, containers: lost.containers });
    } else if (verdict.state === 'down') {
      down.push({ host, containers: [] });
    }
    const found = await markFound(host, verdict.found);
    writes += found.writes;
    if (found.back.length || verdict.state === 'up') up.push({ host, containers: found.back });
    const drifts = await markDrifts(host, verdict.drifts);
    const missing = await markMissing(host, verdict.missing);
    writes += (drifts + missing) * 2;
    const adopted = status ? await adoptMissing(pollResult, status, verdict.unknown) : 0;
    await registry.recordHostSample(pollResult.hostId);
    return { polled: 1, unreachable: pollResult.status ? 0 : 1, writes: writes + adopted * 3, down, up, drifts, orphans: verdict.unknown.length - adopted, missing, adopted };
  }

  /**
   * The host's own metadata and state; returns the writes. Metadata alone goes to `metadataLater`
   * when given, to be written with the rest of its batch in one transaction.
   */
  async function recordHostVerdict(pollResult: HostPoll, verdict: HostVerdict, settings: MonitorSettings, metadataLater?: MetadataMerge[]): Promise<number> {
    let writes = 0;
    if (!verdict.state && metadataLater && Object.keys(verdict.metadata).length) {
      metadataLater.push({ id: pollResult.hostId, metadata: verdict.metadata });
      return 1;
    }
    if (Object.keys(verdict.metadata).length || verdict.state) {
      await registry.update(pollResult.hostId, undefined, { metadata: verdict.metadata, ...(verdict.state ? { state: verdict.state } : {}) });
      writes++;
    }
    if (verdict.state) {
      const why = verdict.state === 'down' ? `${settings.downAfter} polls in a row failed: ${pollResult.error ?? 'no answer'}` : 'it answers again';
      await registry.recordEvent({ nodeId: pollResult.hostId, what: `state ${pollResult.hostState} → ${verdict.state}`, why, by: BY.monitor, commandId: null, data: {} });
      writes++;
    }
    return writes;
  }

  async function environmentOf(id: string): Promise<string | undefined> {
    const env = (await registry.find(id))?.metadata[META.environment];
    return typeof env === 'string' ? (await registry.find(env))?.name : undefined;
  }

  /** The containers of a host that went down become `lost`. */
  async function markLost(host: string, containers: readonly RegisteredContainer[]): Promise<{ writes: number; containers: HostChange['containers'][number][] }> {
    const lost = [];
    for (const c of containers) {
      await registry.update(c.id, undefined, { state: 'lost', metadata: { [META.stateCause]: `host ${host} is down`, [META.stateBeforeLost]: c.state } });
      await registry.recordEvent({ nodeId: c.id, what: `state ${c.state} → lost`, why: `host ${host} stopped answering`, by: BY.monitor, commandId: null, data: { host } });
      await tellEntity(c.name, 'lost', `host ${host} is down`);
      lost.push({ name: c.name, environment: await environmentOf(c.id) });
    }
    return { writes: lost.length * 2, containers: lost };
  }

  /** Lost or missing containers the host reports again; `back` are those that were lost. */
  async function markFound(host: string, found: readonly Drift[]): Promise<{ writes: number; back: HostChange['containers'][number][] }> {
    let writes = 0;
    const back = [];
    for (const f of found) {
      if (f.from !== 'lost' && (await busy(f.name))) continue;
      const cause = f.from === 'lost' ? `host ${host} answers again` : `host ${host} has it again`;
      await registry.update(f.containerId, undefined, { state: f.to, metadata: { [META.stateCause]: cause, [META.observedState]: f.to } });
      await registry.recordEvent({ nodeId: f.containerId, what: `state ${f.from} → ${f.to}`, why: `host ${host} reports it again`, by: BY.monitor, commandId: null, data: { host } });
      writes += 2;
      await tellEntity(f.name, f.to, cause);
      if (f.from === 'lost') back.push({ name: f.name, environment: await environmentOf(f.containerId) });
    }
    return { writes, back };
  }

  /** Containers whose observed state differs from the registry's, unless a command owns them; returns how many. */
  async function markDrifts(host: string, drifts: readonly Drift[]): Promise<number> {
    let marked = 0;
    for (const d of drifts) {
      if (await busy(d.name)) continue;
      const cause = `host ${host} reports it ${d.to}; the registry had ${d.from}`;
      await registry.update(d.containerId, undefined, { state: d.to, metadata: { [META.stateCause]: cause, [META.observedState]: d.to } });
      await registry.recordEvent({ nodeId: d.containerId, what: `state ${d.from} → ${d.to}`, why: cause, by: BY.monitor, commandId: null, data: { host } });
      marked++;
      await tellEntity(d.name, d.to, cause);
    }
    return marked;
  }

  /** Containers the host (answering) does not have become `missing`; returns how many. */
  async function markMissing(host: string, containers: readonly RegisteredContainer[]): Promise<number> {
    let marked = 0;
    for (const c of containers) {
      if (await busy(c.name)) continue;
      const cause = `host ${host} answers but has no VM ${c.name}`;
      const wrote = await guarded(() => registry.update(c.id, c.version, { state: 'missing', metadata: { [META.stateCause]: cause, [META.observedState]: 'missing' } }));
      if (!wrote) continue;
      await registry.recordEvent({ nodeId: c.id, what: `state ${c.state} → missing`, why: cause, by: BY.monitor, commandId: null, data: { host } });
      marked++;
      count('vmflow_containers_missing');
      await tellEntity(c.name, 'missing', cause);
    }
    return marked;
  }

  /**
   * VMs on this host that its registry does not place here, whose container is `missing` (its
   * own host answered without it): the registry follows reality and moves it here.
   */
  async function adoptMissing(pollResult: HostPoll, status: HostStatus, names: readonly string[]): Promise<number> {
    let adopted = 0;
    for (const name of names) {
      const owner = await registry.findByName(name);
      const vm = status.containers.find((c) => c.name === name);
      if (!owner || owner.type !== 'container' || owner.state !== 'missing' || !vm || !isOurs(vm, owner.id)) continue;
      const state = registryStateOf(vm.state);
      if (!state || (await busy(name))) continue;
      const home = owner.parentId ? (await registry.find(owner.parentId))?.name : undefined;
      const why = `${name} found on ${pollResult.hostName}, registry said ${home ?? 'no host'}`;
      if (await guarded(() => applySettlement(registry, owner, { hostId: pollResult.hostId, state, why }, { by: BY.monitor, commandId: null }))) {
        adopted++;
        await tellEntity(name, state, why);
      }
    }
    return adopted;
  }

  /** What is on these hosts: a slim read where the registry has one. */
  async function placedOn(hostIds: readonly string[]): Promise<OnHost[]> {
    if (registry.placedOn) return registry.placedOn(hostIds);
    return (await registry.list({ parentIds: hostIds })).map((c) => ({
      ...c,
      ...(c.type === 'placeholder' ? { containerName: (c.definition as PlaceholderDefinition).containerName } : {}),
    }));
  }

  /** Hosts' metadata, in one transaction where the registry can. */
  async function mergeMetadata(merges: readonly MetadataMerge[]): Promise<void> {
    if (!merges.length) return;
    if (registry.mergeMetadataMany) await registry.mergeMetadataMany(merges);
    else for (const m of merges) await registry.update(m.id, undefined, { metadata: m.metadata });
  }

  const environments = new EnvironmentCommands(temporal, registry);

  return {
    /** Tells the environments of containers whose host went down or came back, so their hooks run. */
    async notifyEnvironments(input: { down: HostChange[]; up: HostChange[] }): Promise<number> {
      let sent = 0;
      for (const change of input.down) {
        for (const c of change.containers) {
          if (!c.environment) continue;
          await environments.submit(c.environment, 'down', { container: c.name, cause: `host ${change.host} is down`, host: change.host }, 'monitor');
          sent++;
        }
      }
      for (const change of input.up) {
        for (const c of change.containers) {
          if (!c.environment) continue;
          await environments.submit(c.environment, 'up', { container: c.name }, 'monitor');
          sent++;
        }
      }
      return sent;
    },

    /**
     * The fleet as ranges of at most `batchSize` centrally polled hosts, and the few hosts agents
     * poll: what a cycle carries grows with its batches, not with its hosts.
     */
    async hostBatches(input: { batchSize: number }): Promise<{ hosts: number; ranges: HostRange[]; agents: MonitoredHost[] }> {
      const { hosts, ranges, agents } = await hostBatches(registry, input.batchSize);
      const agentHosts = agents.length ? await registry.list({ type: 'hypervisor', ids: agents }) : [];
      return { hosts, ranges, agents: agentHosts.map((h) => ({ id: h.id, name: h.name, ref: hostRef(h) })) };
    },

    async monitoredHosts(): Promise<MonitoredHost[]> {
      return (await registry.list({ type: 'hypervisor' })).map((h) => {
        const def = h.definition as HypervisorDefinition;
        return { id: h.id, name: h.name, ...(def.agentQueue ? { ref: hostRef(h) } : {}) };
      });
    },

    /**
     * Polls a batch of hosts at once (a range of ids, or the ids themselves for cycles that began
     * before ranges): the hosts and everything on them read in two queries, their
     * statuses asked in one call where the driver answers for many; a slow host costs at most the
     * poll timeout, never the others' time.
     */
    async monitorBatch(input: ({ hostIds: string[] } | { range: HostRange }) & { settings: MonitorSettings }): Promise<BatchReport> {
      const hosts = 'range' in input ? await hostsIn(registry, input.range) : await registry.list({ type: 'hypervisor', ids: input.hostIds });
      const children = new Map<string, OnHost[]>();
      for (const c of await placedOn(hosts.map((h) => h.id))) {
        if (c.parentId) (children.get(c.parentId) ?? children.set(c.parentId, []).get(c.parentId)!).push(c);
      }
      const answers = await hostStatuses(drivers, hosts.map(hostRef), input.settings.pollTimeoutMs);
      const metadataLater: MetadataMerge[] = [];
      const reports = await Promise.all(
        hosts.map((host, i) => {
          const { status, error } = answers[i]!;
          return apply(pollOf(host, children.get(host.id) ?? [], status, error), input.settings, status, metadataLater);
        }),
      );
      await mergeMetadata(metadataLater);
      return mergeReports(reports);
    },

    /** Applies a status an agent fetched (or its failure) for one host. */
    async recordAgentPoll(input: { hostId: string; status: HostStatus | null; error?: string; settings: MonitorSettings }): Promise<BatchReport> {
      const host = await registry.find(input.hostId);
      if (!host) return EMPTY_REPORT;
      return apply(await poll(host, input.status ?? undefined, input.error), input.settings, input.status ?? undefined);
    },

    /**
     * Settles containers left `unknown` (an undo gave up): asks every host where each is and
     * makes the registry follow. One copy: it is there. None, every host answering: missing.
     */
    async settleUnknown(): Promise<{ settled: number }> {
      const flagged = await registry.list({ type: 'container', state: 'unknown' });
      if (!flagged.length) return { settled: 0 };
      const hosts = (await registry.list({ type: 'hypervisor' })).map(hostRef);
      let settled = 0;
      for (const c of flagged) {
        if (await busy(c.name)) continue;
        const { found, unanswered } = await locate(drivers, hosts, c.name, c.id);
        const copies: Copy[] = found.map((f) => ({ hostId: f.host.id, hostName: f.host.name, seen: f.seen }));
        const home = c.parentId ? hosts.find((h) => h.id === c.parentId)?.name : undefined;
        const verdict = settle(c, copies, unanswered, home);
        if (verdict.state === 'unknown' && !verdict.hostId) continue;
        if (await guarded(() => applySettlement(registry, c, verdict, { by: BY.monitor, commandId: null }))) {
          settled++;
          await tellEntity(c.name, verdict.state, verdict.why);
        }
      }
      return { settled };
    },

  };
}

/** One host's poll: what the registry has on it, and what it answered. */
function pollOf(host: NodeRecord, children: readonly OnHost[], status: HostStatus | undefined, error: string | undefined): HostPoll {
  const registered: RegisteredContainer[] = children
    .filter((c) => c.type === 'container')
    .map((c) => ({ id: c.id, name: c.name, state: c.state, parentId: c.parentId, version: c.version }));
  // A container being created or cloned here has a claim; one migrating here is registered on its source.
  const claimed = new Set(children.flatMap((c) => (c.type === 'placeholder' && c.containerName !== undefined ? [c.containerName] : [])));
  return { hostId: host.id, hostName: host.name, hostState: host.state, metadata: host.metadata, registered, claimed, status, error };
}

export function mergeReports(reports: readonly BatchReport[]): BatchReport {
  return reports.reduce(
    (a, r) => ({
      polled: a.polled + r.polled,
      unreachable: a.unreachable + r.unreachable,
      writes: a.writes + r.writes,
      down: [...a.down, ...r.down],
      up: [...a.up, ...r.up],
      drifts: a.drifts + r.drifts,
      orphans: a.orphans + r.orphans,
      missing: a.missing + r.missing,
      adopted: a.adopted + r.adopted,
    }),
    EMPTY_REPORT,
  );
}

export type MonitorActivities = ReturnType<typeof createMonitorActivities>;
