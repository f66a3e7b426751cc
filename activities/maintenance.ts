// What host maintenance needs besides the container commands it runs: for a failover, which
// containers to rebuild, in which order, and fencing the dead host so none can run twice; for a
// drain, cordoning the host and what to move off it.
import { DriverError } from '../src/domain/errors';
import { META, type ContainerDefinition, type NodeRecord } from '../src/domain/types';
import type { DriverRegistry } from '../src/drivers/driver';
import type { Kinds } from '../src/hooks';
import type { Registry } from '../src/registry/types';
import { hostRef } from '../src/drivers/refs';

export interface FailoverPlan {
  readonly host: string;
  /** False when the host's driver has no fencing device: nothing is rebuilt then. */
  readonly fenceable: boolean;
  /** Lost containers with the `restart` policy, in failover order (lowest priority first). */
  readonly restart: ReadonlyArray<{ readonly name: string; readonly priority: number; readonly environment?: string }>;
  /** Lost containers whose policy is `none`: they stay lost. */
  readonly stay: readonly string[];
}

export function createMaintenanceActivities(deps: { registry: Registry; drivers: DriverRegistry; kinds: Kinds }) {
  const { registry, drivers, kinds } = deps;

  async function environmentName(node: NodeRecord): Promise<string | undefined> {
    const env = node.metadata[META.environment];
    return typeof env === 'string' ? (await registry.find(env))?.name : undefined;
  }

  return {
    /** The lost containers of a host that went down, split by their HA policy. */
    async failoverPlan(input: { host: string }): Promise<FailoverPlan> {
      const host = await registry.getByName(input.host);
      const lost = (await registry.children(host.id, 'container')).filter((c) => c.state === 'lost') as NodeRecord<ContainerDefinition>[];
      const restart = [];
      const stay = [];
      for (const c of lost) {
        const kind = kinds.get(c.definition.kind);
        if ((c.definition.ha ?? kind.ha) !== 'restart') {
          stay.push(c.name);
          continue;
        }
        const environment = await environmentName(c);
        restart.push({ name: c.name, priority: c.definition.haPriority ?? kind.priority, ...(environment ? { environment } : {}) });
      }
      restart.sort((a, b) => a.priority - b.priority || a.name.localeCompare(b.name));
      return { host: host.name, fenceable: typeof drivers.forHost(hostRef(host)).fence === 'function', restart, stay: stay.sort() };
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
      const driver = drivers.forHost(ref);
      if (!driver.fence) throw new DriverError(driver.name, 'fence', ref.name, 'this driver has no fencing device');
      await driver.fence(ref);
      await registry.recordEvent({ nodeId: ref.id, what: 'fenced', why: 'powered off out of band before its containers are rebuilt elsewhere', by: 'failover', commandId: null, data: {} });
    },
  };
}

export type MaintenanceActivities = ReturnType<typeof createMaintenanceActivities>;
