// Registry activities for hypervisors: add, record what a probe saw, remove.
import type { HypervisorDefinition, NodeRecord } from '../src/domain/types';
import { META } from '../src/domain/types';
import type { HostStatus } from '../src/drivers/driver';
import type { Registry } from '../src/registry/types';
import type { Provisioner } from '../src/provisioner';
import { hostRef } from '../src/drivers/refs';

export function createHypervisorActivities(registry: Registry, provisioner: Provisioner) {
  return {
    async provisionHypervisor(input: { id: string; name: string; definition: HypervisorDefinition; tags?: Record<string, string> }): Promise<NodeRecord> {
      return (await registry.find(input.id)) ?? provisioner.provisionHypervisor(input);
    },

    async recordHostProbe(input: { hostId: string; status: HostStatus | null; error?: string }): Promise<NodeRecord> {
      const node = await registry.get(input.hostId);
      const now = new Date().toISOString();
      const patch = input.status
        ? { state: node.state === 'draining' ? 'draining' : 'up', metadata: { [META.lastContact]: now, [META.load]: input.status.load, [META.free]: { ...input.status.free }, [META.failuresInRow]: 0 } }
        : { state: 'down', metadata: { [META.stateCause]: input.error ?? 'unreachable' } };
      return registry.update(node.id, undefined, patch);
    },

    async hostRefOf(id: string) {
      return hostRef(await registry.get(id));
    },

  };
}

export type HypervisorActivities = ReturnType<typeof createHypervisorActivities>;
