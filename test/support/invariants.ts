// The invariants of ARCHITECTURE.md, checked against the registry and the sim's own state.
import assert from 'node:assert/strict';
import type { ContainerDefinition, HypervisorDefinition, NodeRecord, PlaceholderDefinition } from '../../src/domain/types';
import { META, allowance, keyOf } from '../../src/domain/types';
import { SEARCH_ATTRIBUTES } from '../../src/domain/names';
import { registryStateOf } from '../../src/monitor/reconcile';
import { NodeKeyEntity } from '../../src/registry/entities';
import { SqlRegistry } from '../../src/registry';
import type { SimVmView } from '../../src/sim/protocol';
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

/**
 * States that say "the registry does not vouch for this container's VM": its host is down
 * (`lost`), it is a stale copy (`illegal`), the monitor did not find it (`missing`), or an undo
 * could not finish (`unknown`). A flagged container may lack its VM, and its VM may be anywhere.
 */
export const FLAGGED_STATES: ReadonlySet<string> = new Set(['lost', 'illegal', 'missing', 'unknown']);

export type InvariantName =
  | 'vm without container'
  | 'container without vm'
  | 'vm on two hosts'
  | 'state differs from host'
  | 'container on no host'
  | 'key not owned'
  | 'key owned twice'
  | 'dangling key'
  | 'over capacity'
  | 'placeholder without command'
  | 'command not closed';

export interface Violation {
  readonly invariant: InvariantName;
  /** The node, VM or command it is about. */
  readonly subject: string;
  readonly detail: string;
}

/**
 * Every invariant of ARCHITECTURE.md that can be read from the registry database, the sim's own
 * state and Temporal's visibility, as a list of violations (empty when the cluster is sound).
 * Meant for a quiet cluster: no command running, monitor and collector settled.
 */
export async function findViolations(stack: Stack): Promise<Violation[]> {
  const r = stack.services.registry;
  const out: Violation[] = [];
  const add = (invariant: InvariantName, subject: string, detail: string) => out.push({ invariant, subject, detail });
  const [containers, placeholders, hosts, vms] = await Promise.all([
    r.list({ type: 'container' }) as Promise<NodeRecord<ContainerDefinition>[]>,
    r.list({ type: 'placeholder' }) as Promise<NodeRecord<PlaceholderDefinition>[]>,
    r.list({ type: 'hypervisor' }) as Promise<NodeRecord<HypervisorDefinition>[]>,
    stack.sim.admin.vms(),
  ]);
  const hostName = new Map(hosts.map((h) => [h.id, h.name]));
  const byName = new Map(containers.map((c) => [c.name, c]));
  const copies = new Map<string, SimVmView[]>();
  for (const vm of vms) copies.set(vm.name, [...(copies.get(vm.name) ?? []), vm]);

  for (const [name, seen] of copies) {
    if (seen.length > 1) add('vm on two hosts', name, `on ${seen.map((v) => `${v.host} (${v.state})`).join(' and ')}`);
  }
  for (const vm of vms) {
    const owner = byName.get(vm.name);
    if (owner && FLAGGED_STATES.has(owner.state)) continue;
    if (!owner) add('vm without container', `${vm.host}/${vm.name}`, `${vm.state} VM that no container is registered for`);
    else if (hostName.get(owner.parentId ?? '') !== vm.host) {
      add('vm without container', `${vm.host}/${vm.name}`, `${vm.state} VM whose container is ${owner.state} on ${hostName.get(owner.parentId ?? '') ?? 'no host'}`);
    }
  }
  for (const c of containers) {
    const host = c.parentId ? hostName.get(c.parentId) : undefined;
    if (!host) {
      if (!FLAGGED_STATES.has(c.state)) add('container on no host', c.name, `${c.state} with no host (created ${c.createdAt})`);
      continue;
    }
    if (FLAGGED_STATES.has(c.state)) continue;
    const vm = copies.get(c.name)?.find((v) => v.host === host);
    if (!vm) {
      const elsewhere = copies.get(c.name)?.map((v) => v.host).join(', ');
      add('container without vm', c.name, `${c.state} on ${host}, which has no such VM${elsewhere ? ` (it is on ${elsewhere})` : ''}; cause: ${String(c.metadata[META.stateCause] ?? 'none recorded')}`);
      continue;
    }
    const observed = registryStateOf(vm.state);
    if (observed && observed !== c.state) add('state differs from host', c.name, `registry says ${c.state}, ${host} reports ${vm.state}`);
  }

  const ips = new Map<string, string>();
  const macs = new Map<string, string>();
  for (const c of containers) {
    for (const key of [keyOf.name(c.name), keyOf.ip(c.definition.network.ip), keyOf.mac(c.definition.network.mac)]) {
      const owner = await r.findByKey(key);
      if (owner?.id !== c.id) add('key not owned', c.name, `${key} is owned by ${owner ? `${owner.type} ${owner.name}` : 'nobody'}`);
    }
    for (const [seen, value] of [[ips, c.definition.network.ip], [macs, c.definition.network.mac.toLowerCase()]] as const) {
      const other = seen.get(value);
      if (other) add('key owned twice', c.name, `${value} is also in the definition of ${other}`);
      else seen.set(value, c.name);
    }
  }
  if (r instanceof SqlRegistry) {
    const ids = new Set([...containers, ...placeholders, ...hosts].map((n) => n.id));
    const rows = await r.dataSource.getRepository(NodeKeyEntity).find();
    for (const row of rows) {
      if (!ids.has(row.nodeId) && !(await r.find(row.nodeId))) add('dangling key', row.key, `owned by ${row.nodeId}, which is not in the registry`);
    }
  }

  for (const h of hosts) {
    const used = await r.usage(h.id);
    const max = allowance(h.definition);
    if (used.cpus > max.cpus || used.memoryMiB > max.memoryMiB || used.diskGiB > max.diskGiB) {
      const held = (await r.children(h.id)).map((n) => `${n.name} (${n.type} ${n.state}, ${String((n.definition as { cpus?: number }).cpus ?? (n.definition as PlaceholderDefinition).resources?.cpus)} cpu)`);
      add('over capacity', h.name, `claims ${JSON.stringify(used)} exceed ${JSON.stringify(max)}: ${held.join(', ')}`);
    }
  }

  const workflows = stack.client.temporal.workflow;
  for (const p of placeholders) {
    const wf = p.metadata[META.workflowId];
    let status = 'none recorded';
    if (typeof wf === 'string') status = await workflows.getHandle(wf).describe().then((d) => d.status.name, () => 'not found');
    if (status !== 'RUNNING') {
      add('placeholder without command', p.name, `claim for ${p.definition.containerName} on ${hostName.get(p.parentId ?? '') ?? '?'}, expires ${p.definition.expiresAt}; its command ${String(wf)} is ${status}`);
    }
  }
  for await (const w of workflows.list({ query: `${SEARCH_ATTRIBUTES.command} IS NOT NULL AND ExecutionStatus = 'Running'` })) {
    add('command not closed', w.workflowId, `still running since ${w.startTime.toISOString()}`);
  }
  return out;
}
