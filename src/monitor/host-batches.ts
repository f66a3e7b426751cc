// The fleet in batches for the monitor and the collector: runs of hosts by id, so that what a
// cycle's workflow carries grows with the number of batches, never with the number of hosts.
import type { NodeRecord } from '../domain/types';
import type { HostRange, Registry } from '../registry/types';

export interface HostBatches {
  /** Hosts in all. */
  readonly hosts: number;
  /** The centrally polled hosts, at most `batchSize` in each range, in id order. */
  readonly ranges: HostRange[];
  /** Ids of the hosts an agent polls: they are few, and each is asked through its own queue. */
  readonly agents: string[];
}

export function isAgentPolled(host: NodeRecord): boolean {
  return Boolean((host.definition as { agentQueue?: unknown }).agentQueue);
}

const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export async function hostBatches(registry: Registry, batchSize: number): Promise<HostBatches> {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be a whole number >= 1, got ${batchSize}`);
  const hosts = registry.hypervisorIds
    ? await registry.hypervisorIds()
    : (await registry.list({ type: 'hypervisor' })).map((h) => ({ id: h.id, agent: isAgentPolled(h) })).sort(byId);
  const central = hosts.filter((h) => !h.agent).map((h) => h.id);
  const ranges: HostRange[] = [];
  for (let i = 0; i < central.length; i += batchSize) {
    ranges.push({ after: i ? central[i - 1]! : null, last: central[Math.min(i + batchSize, central.length) - 1]! });
  }
  return { hosts: hosts.length, ranges, agents: hosts.filter((h) => h.agent).map((h) => h.id) };
}

/** The centrally polled hosts of a range (agent-polled ones among them are left out), read in one query. */
export async function hostsIn(registry: Registry, range: HostRange): Promise<NodeRecord[]> {
  const hosts = registry.hypervisorsInRange
    ? await registry.hypervisorsInRange(range)
    : (await registry.list({ type: 'hypervisor' })).filter((h) => (range.after === null || h.id > range.after) && h.id <= range.last).sort(byId);
  return hosts.filter((h) => !isAgentPolled(h));
}
