// Definitions and helpers shared by the registry and provisioner tests.
import assert from 'node:assert/strict';
import type { HypervisorDefinition, NodeRecord } from '../../src/domain/types';
import type { SqlRegistry } from '../../src/registry';

export function hypervisorDefinition(
  capacity = { cpus: 8, memoryMiB: 16384, diskGiB: 500 },
  extra: Partial<HypervisorDefinition> = {},
): HypervisorDefinition {
  return { driver: 'sim', address: 'http://127.0.0.1:7070/hosts/test', capacity, ...extra };
}

export function containerDefinition(resources = { cpus: 1, memoryMiB: 1024, diskGiB: 10 }, ip?: string) {
  return { kind: 'web', ...resources, network: { ip: ip ?? '10.9.0.1', mac: '02:00:0a:09:00:01' } };
}

export async function addHost(registry: SqlRegistry, name: string, capacity?: { cpus: number; memoryMiB: number; diskGiB: number }, extra: Partial<HypervisorDefinition> = {}, state = 'up'): Promise<NodeRecord> {
  return registry.add({ type: 'hypervisor', name, definition: hypervisorDefinition(capacity, extra), state });
}

export async function addContainer(
  registry: SqlRegistry,
  name: string,
  parentId: string | null,
  resources = { cpus: 1, memoryMiB: 1024, diskGiB: 10 },
  metadata: Record<string, unknown> = {},
): Promise<NodeRecord> {
  return registry.add({ type: 'container', name, definition: containerDefinition(resources), state: 'running', parentId, metadata });
}

/** Runs `action`, expects it to fail, and proves it wrote nothing: every table has the same row count. */
export async function assertRefusedUnchanged(registry: SqlRegistry, action: () => Promise<unknown>, expected: object): Promise<void> {
  const before = await registry.rowCounts();
  await assert.rejects(action, expected);
  assert.deepEqual(await registry.rowCounts(), before, 'a refused call changed the database');
}
