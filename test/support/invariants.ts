// The invariants of ARCHITECTURE.md, checked against the registry and the sim's own state.
import assert from 'node:assert/strict';
import type { ContainerDefinition, HypervisorDefinition, NodeRecord } from '../../src/domain/types';
import { allowance, keyOf } from '../../src/domain/types';
import type { Stack } from './stack';

export interface ClusterView {
  readonly containers: NodeRecord<ContainerDefinition>[];
  readonly placeholders: NodeRecord[];
  readonly hosts: NodeRecord<HypervisorDefinition>[];
  /** Sim VMs by host name. */
  readonly vms: Map<string, string[]>;
}

/** States in which a container is flagged: the registry does not claim its VM is on its host. */
const FLAGGED: ReadonlySet<string> = new Set(['lost', 'illegal', 'missing', 'unknown']);

export async function clusterView(stack: Stack): Promise<ClusterView> {
  const r = stack.services.registry;
  const [containers, placeholders, hosts, vms] = await Promise.all([
    r.list({ type: 'container' }),
    r.list({ type: 'placeholder' }),
    r.list({ type: 'hypervisor' }),
    stack.sim.admin.vms(),
  ]);
  const byHost = new Map<string, string[]>();
  for (const vm of vms) byHost.set(vm.host, [...(byHost.get(vm.host) ?? []), vm.name].sort());
  return { containers: containers as any, placeholders, hosts: hosts as any, vms: byHost };
}

/**
 * Asserts: every registered container with a host exists on exactly that sim host; every sim VM
 * belongs to a container registered on that host; no placeholder is left (unless allowed); claims
 * stay within each host's allowance; each container owns its name, ip and mac keys.
 */
export async function assertConsistent(stack: Stack, options: { placeholders?: number } = {}): Promise<ClusterView> {
  const view = await clusterView(stack);
  const r = stack.services.registry;
  const hostName = new Map(view.hosts.map((h) => [h.id, h.name]));
  const expected = new Map<string, string[]>();
  for (const c of view.containers) {
    // Flagged containers are where the monitor will settle them; what they have on hosts is checked apart.
    if (!c.parentId || FLAGGED.has(c.state)) continue;
    const h = hostName.get(c.parentId)!;
    expected.set(h, [...(expected.get(h) ?? []), c.name].sort());
  }
  const flagged = new Set(view.containers.filter((c) => FLAGGED.has(c.state)).map((c) => c.name));
  const actual = new Map([...view.vms].map(([h, names]) => [h, names.filter((n) => !flagged.has(n))] as const).filter(([, names]) => names.length > 0));
  assert.deepEqual(Object.fromEntries([...actual].sort()), Object.fromEntries([...expected].sort()), 'registry and sim disagree on which VMs are where');
  assert.equal(view.placeholders.length, options.placeholders ?? 0, `placeholders left: ${view.placeholders.map((p) => p.name).join(', ')}`);
  for (const h of view.hosts) {
    const used = await r.usage(h.id);
    const max = allowance(h.definition);
    assert.ok(used.cpus <= max.cpus && used.memoryMiB <= max.memoryMiB && used.diskGiB <= max.diskGiB, `${h.name} over capacity: ${JSON.stringify(used)} > ${JSON.stringify(max)}`);
  }
  for (const c of view.containers) {
    for (const key of [keyOf.name(c.name), keyOf.ip(c.definition.network.ip), keyOf.mac(c.definition.network.mac)]) {
      assert.equal((await r.findByKey(key))?.id, c.id, `${key} is not owned by ${c.name}`);
    }
  }
  return view;
}

/** Everything a failed or cancelled command must leave as it found it. */
export async function snapshotCluster(stack: Stack): Promise<unknown> {
  const view = await clusterView(stack);
  return {
    containers: view.containers.map((c) => ({ name: c.name, state: c.state, parent: c.parentId, keys: c.keys, definition: c.definition })).sort((a, b) => a.name.localeCompare(b.name)),
    placeholders: view.placeholders.length,
    vms: Object.fromEntries([...view.vms].filter(([, n]) => n.length).sort()),
    usage: await Promise.all(view.hosts.map(async (h) => [h.name, await stack.services.registry.usage(h.id)])),
  };
}

/** Polls until `check` returns a value or the time is up. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
