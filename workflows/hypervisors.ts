// Hypervisor commands: bringing a host into the cluster.
import { proxyActivities, uuid4 } from '@temporalio/workflow';
import type { HypervisorActivities } from '../activities/hypervisors';
import type { HypervisorDefinition, NodeRecord } from '../src/domain/types';
import { commandFailure, hostActivities } from './command-runtime';

const hv = proxyActivities<HypervisorActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '5 seconds' },
});

export interface AddHypervisorInput {
  readonly name: string;
  readonly definition: HypervisorDefinition;
  readonly tags?: Record<string, string>;
}

/** Registers a host (validated by the provisioner), probes it through its driver and records what it saw. */
export async function addHypervisor(input: AddHypervisorInput): Promise<NodeRecord> {
  try {
    const node = await hv.provisionHypervisor({ id: uuid4(), name: input.name, definition: input.definition, tags: input.tags });
    const host = await hv.hostRefOf(node.id);
    try {
      const status = await hostActivities(host).hostStatus({ host });
      return await hv.recordHostProbe({ hostId: node.id, status });
    } catch (err) {
      return await hv.recordHostProbe({ hostId: node.id, status: null, error: String((err as any)?.cause?.message ?? err) });
    }
  } catch (err) {
    throw commandFailure(err);
  }
}
