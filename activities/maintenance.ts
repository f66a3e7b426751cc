// What host maintenance needs besides the container commands it runs: for a failover, which
// containers to rebuild, in which order, and fencing the dead host so none can run twice; for a
// drain, cordoning the host and what to move off it.
import { DriverError } from '../src/domain/errors';
import { HA_DEFAULT_MAX_RESTARTS, HA_DEFAULT_RESTART_WINDOW_MINUTES, META, type ContainerDefinition, type NodeRecord } from '../src/domain/types';
import type { DriverRegistry } from '../src/drivers/driver';
import type { Kinds } from '../src/hooks';
import type { Registry } from '../src/registry/types';
import { hostRef } from '../src/drivers/refs';
import { DEFAULT_FENCE_AGENT_DIR, FenceAgents } from '../src/drivers/fence-agents';
import type { HostRef } from '../src/drivers/driver';

export interface FailoverPlan {
  readonly host: string;
  /** False when the host's driver has no fencing device: nothing is rebuilt then. */
  readonly fenceable: boolean;
  /** Lost containers with the `restart` policy, in failover order (lowest priority first) across the hosts. */
  readonly restart: ReadonlyArray<{ readonly name: string; readonly priority: number; readonly environment?: string; readonly host?: string }>;
  /** Lost containers whose policy is `none`: they stay lost. */
  readonly stay: readonly string[];
  /** `restart` containers failed over `haMaxRestarts` times within their window: they stay lost. */
  readonly exhausted?: ReadonlyArray<{ readonly name: string; readonly host?: string; readonly reason: string }>;
}

export function createMaintenanceActivities(deps: { registry: Registry; drivers: DriverRegistry; kinds: Kinds; fencing?: FenceAgents }) {
  const { registry, drivers, kinds } = deps;
  const fencing = deps.fencing ?? new FenceAgents(DEFAULT_FENCE_AGENT_DIR);

  /** A host is fenceable by its own fence agent, or else by its driver's device (the sim's BMC). */
  function canFence(ref: HostRef): boolean {
    return !!ref.definition.fence || typeof drivers.forHost(ref).fence === 'function';
  }

  async function environmentName(node: NodeRecord): Promise<string | undefined> {
    const env = node.metadata[META.environment];
    return typeof env === 'string' ? (await registry.find(env))?.name : undefined;
  }

  /** Why a container may not fail over again: it already did `haMaxRestarts` times in its window. */
  async function restartLimitReached(c: NodeRecord<ContainerDefinition>): Promise<string | undefined> {
    const max = c.definition.haMaxRestarts ?? HA_DEFAULT_MAX_RESTARTS;
    const minutes = c.definition.haRestartWindowMinutes ?? HA_DEFAULT_RESTART_WINDOW_MINUTES;
    const since = Date.now() - minutes * 60_000;
    const restarts = (await registry.events(c.id, 200)).filter((e) => e.by === 'failover' && e.what.startsWith('state ') && Date.parse(e.at) >= since).length;
    if (restarts < max) return undefined;
    return `failed over ${restarts} times in the last ${minutes} minutes (haMaxRestarts ${max}); left lost for an operator`;
  }

  return {
    /** The lost containers of the hosts that went down, split by their HA policy. */
    async failoverPlan(input: { host: string; hosts?: readonly string[] }): Promise<FailoverPlan> {
      const restart = [];
      const stay = [];
      const exhausted = [];
      let fenceable = true;
      const names = input.hosts?.length ? input.hosts : [input.host];
      for (const name of names) {
        const host = await registry.getByName(name);
        fenceable &&= canFence(hostRef(host));
        const lost = (await registry.children(host.id, 'container')).filter((c) => c.state === 'lost') as NodeRecord<ContainerDefinition>[];
        for (const c of lost) {
          const kind = kinds.get(c.definition.kind);
          if ((c.definition.ha ?? kind.ha) !== 'restart') {
            stay.push(c.name);
            continue;
          }
          const limit = await restartLimitReached(c);
          if (limit) {
            exhausted.push({ name: c.name, host: host.name, reason: limit });
            continue;
          }
          const environment = await environmentName(c);
          restart.push({ name: c.name, priority: c.definition.haPriority ?? kind.priority, host: host.name, ...(environment ? { environment } : {}) });
        }
      }
      restart.sort((a, b) => a.priority - b.priority || a.name.localeCompare(b.name));
      return { host: input.host, fenceable, restart, stay: stay.sort(), ...(exhausted.length ? { exhausted } : {}) };
    },

    /** A container a failover could not rebuild stays lost; its cause and history say why. */
    async leaveLost(input: { container: string; reason: string }): Promise<void> {
      const node = await registry.getByName(input.container);
      if (node.state !== 'lost' || node.metadata[META.stateCause] === input.reason) return;
      await registry.update(node.id, undefined, { metadata: { [META.stateCause]: input.reason } });
      await registry.recordEvent({ nodeId: node.id, what: 'failover refused', why: input.reason, by: 'failover', commandId: null, data: {} });
    },

    /**
     * Cordons the host (no new placements: the allocator skips `draining` hosts) and lists what
     * to move off it: running and stopped containers by name; suspended ones cannot migrate.
     */
    async drainPlan(input: { host: string; reason?: string }): Promise<{ containers: Array<{ name: string; state: string }>; skipped: string[] }> {
      const host = await registry.getByName(input.host);
      if (host.state === 'up') {
        await registry.update(host.id, undefined, { state: 'draining', metadata: { [META.stateCause]: input.reason ?? 'drained by an operator' } });
        await registry.recordEvent({ nodeId: host.id, what: 'state up → draining', why: input.reason ?? 'drained by an operator', by: 'drain', commandId: null, data: {} });
      }
      const children = (await registry.children(host.id, 'container')).sort((a, b) => a.name.localeCompare(b.name));
      return {
        containers: children.filter((c) => c.state === 'running' || c.state === 'stopped').map((c) => ({ name: c.name, state: c.state })),
        skipped: children.filter((c) => c.state === 'suspended').map((c) => c.name),
      };
    },

    /** Powers the host off out of band; retried until it is done, for nothing may be rebuilt before. */
    async fenceHost(input: { host: string }): Promise<void> {
      const ref = hostRef(await registry.getByName(input.host));
      const device = ref.definition.fence;
      if (device) {
        await fencing.fence({ name: ref.name, address: ref.definition.address }, device);
      } else {
        const driver = drivers.forHost(ref);
        if (!driver.fence) throw new DriverError(driver.name, 'fence', ref.name, 'this host has no fence agent and its driver no fencing device');
        await driver.fence(ref);
      }
      const how = device ? `by its fence agent ${device.agent}` : 'by its driver';
      await registry.recordEvent({ nodeId: ref.id, what: 'fenced', why: `powered off out of band ${how} before its containers are rebuilt elsewhere`, by: 'failover', commandId: null, data: {} });
    },
  };
}

export type MaintenanceActivities = ReturnType<typeof createMaintenanceActivities>;
