// The monitor's and the collector's activities. The monitor polls hosts through their drivers
// and makes the registry follow reality; the collector removes what nobody owns. Every state
// change they make is kept as an event on the node it changed.
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { META, type HypervisorDefinition, type NodeRecord, type PlaceholderDefinition } from '../src/domain/types';
import { workflowIds } from '../src/domain/names';
import type { DriverRegistry, HostRef, HostStatus } from '../src/drivers/driver';
import { entityStatusQuery, observedSignal } from '../src/domain/messages';
import { EnvironmentCommands } from '../src/service/commands';
import { reconcileHost, type HostPoll, type RegisteredContainer } from '../src/monitor/reconcile';
import type { Registry } from '../src/registry/types';
import { guardAll } from './guard';
import { hostRef } from './registry';

export interface MonitorSettings {
  /** Failed polls in a row before a host is down. */
  readonly downAfter: number;
  readonly contactEverySeconds: number;
  /** A host that takes longer than this to answer counts as a failed poll. */
  readonly pollTimeoutMs: number;
}

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
}

export const EMPTY_REPORT: BatchReport = { polled: 0, unreachable: 0, writes: 0, down: [], up: [], drifts: 0, orphans: 0 };

const BY = { monitor: 'monitor', collector: 'collector' } as const;

export function createMonitorActivities(deps: { registry: Registry; drivers: DriverRegistry; temporal: Client }) {
  const { registry, drivers, temporal } = deps;

  async function isRunning(workflowId: unknown): Promise<boolean> {
    if (typeof workflowId !== 'string') return false;
    try {
      return (await temporal.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  }

  /** True when the container's entity has commands queued or running: its state is theirs to set. */
  async function busy(container: string): Promise<boolean> {
    try {
      const status = await temporal.workflow.getHandle(workflowIds.containerEntity(container)).query(entityStatusQuery);
      return status.queue.length > 0;
    } catch {
      return false;
    }
  }

  async function poll(host: NodeRecord, status: HostStatus | undefined, error: string | undefined): Promise<HostPoll> {
    const children = await registry.children(host.id);
    const registered: RegisteredContainer[] = children
      .filter((c) => c.type === 'container')
      .map((c) => ({ id: c.id, name: c.name, state: c.state, parentId: c.parentId }));
    const claimed = new Set(children.filter((c) => c.type === 'placeholder').map((p) => (p.definition as PlaceholderDefinition).containerName));
    // A container being created or cloned here has a claim; one migrating here is registered on its source.
    return { hostId: host.id, hostName: host.name, hostState: host.state, metadata: host.metadata, registered, claimed, status, error };
  }

  async function apply(pollResult: HostPoll, settings: MonitorSettings): Promise<BatchReport> {
    const now = new Date();
    const verdict = reconcileHost(pollResult, { now, downAfter: settings.downAfter, contactEverySeconds: settings.contactEverySeconds });
    let writes = 0;
    const host = pollResult.hostName;
    if (Object.keys(verdict.metadata).length || verdict.state) {
      await registry.update(pollResult.hostId, undefined, { metadata: verdict.metadata, ...(verdict.state ? { state: verdict.state } : {}) });
      writes++;
    }
    if (verdict.state) {
      const why = verdict.state === 'down' ? `${settings.downAfter} polls in a row failed: ${pollResult.error ?? 'no answer'}` : 'it answers again';
      await registry.recordEvent({ nodeId: pollResult.hostId, what: `state ${pollResult.hostState} → ${verdict.state}`, why, by: BY.monitor, commandId: null, data: {} });
      writes++;
    }
    const environmentOf = async (id: string) => {
      const env = (await registry.find(id))?.metadata[META.environment];
      return typeof env === 'string' ? (await registry.find(env))?.name : undefined;
    };
    const down: HostChange[] = [];
    const up: HostChange[] = [];
    if (verdict.lost.length) {
      const lost = [];
      for (const c of verdict.lost) {
        await registry.update(c.id, undefined, { state: 'lost', metadata: { [META.stateCause]: `host ${host} is down` } });
        await registry.recordEvent({ nodeId: c.id, what: `state ${c.state} → lost`, why: `host ${host} stopped answering`, by: BY.monitor, commandId: null, data: { host } });
        writes += 2;
        lost.push({ name: c.name, environment: await environmentOf(c.id) });
      }
      down.push({ host, containers: lost });
    } else if (verdict.state === 'down') {
      down.push({ host, containers: [] });
    }
    if (verdict.found.length || verdict.state === 'up') {
      const found = [];
      for (const f of verdict.found) {
        await registry.update(f.containerId, undefined, { state: f.to, metadata: { [META.stateCause]: `host ${host} answers again`, [META.observedState]: f.to } });
        await registry.recordEvent({ nodeId: f.containerId, what: `state lost → ${f.to}`, why: `host ${host} reports it again`, by: BY.monitor, commandId: null, data: { host } });
        writes += 2;
        found.push({ name: f.name, environment: await environmentOf(f.containerId) });
      }
      up.push({ host, containers: found });
    }
    let drifts = 0;
    for (const d of verdict.drifts) {
      if (await busy(d.name)) continue;
      const cause = `host ${host} reports it ${d.to}; the registry had ${d.from}`;
      await registry.update(d.containerId, undefined, { state: d.to, metadata: { [META.stateCause]: cause, [META.observedState]: d.to } });
      await registry.recordEvent({ nodeId: d.containerId, what: `state ${d.from} → ${d.to}`, why: cause, by: BY.monitor, commandId: null, data: { host } });
      writes += 2;
      drifts++;
      try {
        await temporal.workflow.getHandle(workflowIds.containerEntity(d.name)).signal(observedSignal, { state: d.to, cause });
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
    }
    return { polled: 1, unreachable: pollResult.status ? 0 : 1, writes, down, up, drifts, orphans: verdict.unknown.length };
  }

  const environments = new EnvironmentCommands(temporal, registry);

  return guardAll({
    /** Tells the environments of containers whose host went down or came back, so their hooks run. */
    async notifyEnvironments(input: { down: HostChange[]; up: HostChange[] }): Promise<number> {
      let sent = 0;
      for (const change of input.down) {
        for (const c of change.containers) {
          if (!c.environment) continue;
          await environments.submit(c.environment, 'down', { container: c.name, cause: `host ${change.host} is down` }, 'monitor');
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

    async monitoredHosts(): Promise<MonitoredHost[]> {
      return (await registry.list({ type: 'hypervisor' })).map((h) => {
        const def = h.definition as HypervisorDefinition;
        return { id: h.id, name: h.name, ...(def.agentQueue ? { ref: hostRef(h) } : {}) };
      });
    },

    /** Polls a batch of hosts at once; a slow host costs at most the poll timeout, never the others' time. */
    async monitorBatch(input: { hostIds: string[]; settings: MonitorSettings }): Promise<BatchReport> {
      const reports = await Promise.all(
        input.hostIds.map(async (id) => {
          const host = await registry.find(id);
          if (!host) return EMPTY_REPORT;
          const ref = hostRef(host);
          let status: HostStatus | undefined;
          let error: string | undefined;
          try {
            status = await drivers.forHost(ref).hostStatus(ref, { progress: () => undefined, signal: AbortSignal.timeout(input.settings.pollTimeoutMs) });
          } catch (err) {
            error = err instanceof Error ? err.message : String(err);
          }
          return apply(await poll(host, status, error), input.settings);
        }),
      );
      return mergeReports(reports);
    },

    /** Applies a status an agent fetched (or its failure) for one host. */
    async recordAgentPoll(input: { hostId: string; status: HostStatus | null; error?: string; settings: MonitorSettings }): Promise<BatchReport> {
      const host = await registry.find(input.hostId);
      if (!host) return EMPTY_REPORT;
      return apply(await poll(host, input.status ?? undefined, input.error), input.settings);
    },

    /** Removes placeholders past their time to live, unless the command that holds one still runs. */
    async collectPlaceholders(input: { ttlSeconds: number }): Promise<{ removed: number; extended: number }> {
      let removed = 0;
      let extended = 0;
      for (const p of await registry.expiredPlaceholders(new Date())) {
        const def = p.definition as PlaceholderDefinition;
        if (await isRunning(p.metadata[META.workflowId])) {
          if (await registry.extendClaim(def.commandId, input.ttlSeconds)) extended++;
          continue;
        }
        if (await registry.release(def.commandId)) {
          removed++;
          if (p.parentId) {
            await registry.recordEvent({
              nodeId: p.parentId,
              what: `placeholder for ${def.containerName} removed`,
              why: `it expired at ${def.expiresAt} and command ${def.commandId} is no longer running`,
              by: BY.collector,
              commandId: def.commandId,
              data: { resources: { ...def.resources } },
            });
          }
        }
      }
      return { removed, extended };
    },

    /** Removes containers stuck in `new` whose command is gone (killed before it committed or undid anything). */
    async collectAbandoned(input: { ttlSeconds: number }): Promise<number> {
      let removed = 0;
      const cutoff = Date.now() - input.ttlSeconds * 1000;
      for (const c of await registry.list({ type: 'container', state: 'new' })) {
        if (Date.parse(c.createdAt) > cutoff || (await isRunning(c.metadata[META.workflowId]))) continue;
        if (c.parentId) continue;
        await registry.remove(c.id);
        removed++;
      }
      return removed;
    },

    /**
     * On one host that answers: destroys VMs that are illegal (their container was replaced, or
     * lives on another host now) and orphans past the grace period. Never a VM the registry says
     * belongs there.
     */
    async collectHost(input: { hostId: string; graceSeconds: number }): Promise<{ destroyed: string[] }> {
      const host = await registry.find(input.hostId);
      if (!host || host.state !== 'up') return { destroyed: [] };
      const ref = hostRef(host);
      const driver = drivers.forHost(ref);
      const status = await driver.hostStatus(ref);
      const orphans = (host.metadata[META.orphans] as Record<string, string> | undefined) ?? {};
      const claimed = new Set(
        (await registry.children(host.id, 'placeholder')).map((p) => (p.definition as PlaceholderDefinition).containerName),
      );
      const destroyed: string[] = [];
      for (const vm of status.containers) {
        const owner = await registry.findByName(vm.name);
        let why: string | undefined;
        if (owner && owner.type === 'container' && owner.parentId === host.id && owner.state !== 'illegal') continue;
        if (claimed.has(vm.name)) continue;
        if (owner?.type === 'container' && owner.state === 'illegal' && owner.parentId === host.id) {
          why = `${vm.name} is illegal: ${String(owner.metadata[META.stateCause] ?? 'replaced')}`;
        } else if (owner?.type === 'container' && owner.parentId && owner.parentId !== host.id) {
          const home = await registry.find(owner.parentId);
          why = `${vm.name} lives on ${home?.name ?? owner.parentId} now; this copy is stale`;
        } else if (!owner || owner.type !== 'container') {
          const firstSeen = orphans[vm.name];
          if (!firstSeen || Date.now() - Date.parse(firstSeen) < input.graceSeconds * 1000) continue;
          why = `${vm.name} is known to nobody (first seen ${firstSeen}, grace ${input.graceSeconds} s)`;
        } else {
          continue;
        }
        const ctx = { progress: () => undefined };
        const seen = await driver.containerStatus(ref, vm.name, ctx);
        if (seen) {
          if (seen.state === 'running' || seen.state === 'suspended') await driver.stop(ref, vm.name, ctx);
          if (seen.provisioned) await driver.deprovision(ref, vm.name, ctx);
          if (await driver.containerStatus(ref, vm.name, ctx)) await driver.undefine(ref, vm.name, ctx);
        }
        destroyed.push(vm.name);
        await registry.recordEvent({ nodeId: host.id, what: `destroyed ${vm.name}`, why, by: BY.collector, commandId: null, data: { vm: vm.name } });
        if (owner?.type === 'container' && owner.state === 'illegal' && owner.parentId === host.id) {
          await registry.recordEvent({ nodeId: owner.id, what: 'removed', why, by: BY.collector, commandId: null, data: { host: host.name } });
          await registry.remove(owner.id);
        }
      }
      if (destroyed.some((n) => n in orphans)) {
        const rest = Object.fromEntries(Object.entries(orphans).filter(([n]) => !destroyed.includes(n)));
        await registry.update(host.id, undefined, { metadata: { [META.orphans]: rest } });
      }
      return { destroyed };
    },
  });
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
    }),
    EMPTY_REPORT,
  );
}

export type MonitorActivities = ReturnType<typeof createMonitorActivities>;
