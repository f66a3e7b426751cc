// A large fleet, filled in bulk for the benchmarks: N sim hosts registered as hypervisors, each
// with its containers running on the sim and registered on the host, as the provisioner would
// have registered them (name, ip and mac keys; ip from the lowest addresses of the pool). Rows
// are written many to a statement rather than one transaction per node, so 100,000 containers
// take seconds, not the hour the add path would take on a busy machine.
import { randomUUID } from 'node:crypto';
import { derive } from '../src/registry/columns';
import { NodeEntity, NodeKeyEntity, type NodeKeyRow, type NodeRow } from '../src/registry/entities';
import type { SqlRegistry } from '../src/registry/sql-registry';
import { macForIp, numberToIp, parsePool } from '../src/provisioner/addresses';
import type { SimAdmin } from '../src/sim/admin-client';
import { keyOf, type ContainerDefinition, type HypervisorDefinition, type JsonObject, type Resources } from '../src/domain/types';

export interface FleetSpec {
  readonly hosts: number;
  readonly containersPerHost: number;
  readonly hostCapacity: Resources;
  readonly container: { readonly cpus: number; readonly memoryMiB: number; readonly diskGiB: number };
  /** The pool the worker allocates from: the containers take its lowest addresses. */
  readonly ipPool: string;
  readonly hostPrefix?: string;
}

export interface Fleet {
  readonly hostIds: readonly string[];
  readonly hostNames: readonly string[];
  readonly containers: number;
}

const ROWS_PER_INSERT = 500;
/** Hosts (and their VMs) per call to the sim's fleet endpoint. */
const SIM_HOSTS_PER_CALL = 1000;

export const hostName = (prefix: string, i: number) => `${prefix}${String(i).padStart(5, '0')}`;
export const containerName = (i: number) => `f-${String(i).padStart(6, '0')}`;

export async function fillFleet(registry: SqlRegistry, sim: SimAdmin, spec: FleetSpec): Promise<Fleet> {
  const prefix = spec.hostPrefix ?? 'hv-';
  const pool = parsePool(spec.ipPool);
  const now = new Date().toISOString();
  const hostIds: string[] = [];
  const hostNames: string[] = [];
  const nodes: NodeRow[] = [];
  const keys: NodeKeyRow[] = [];
  const row = (type: string, name: string, definition: JsonObject, state: string, parentId: string | null): NodeRow => {
    const id = randomUUID();
    keys.push({ key: keyOf.name(name), nodeId: id });
    return { id, type, name, definition: JSON.stringify(definition), state, metadata: '{}', parentId, version: 1, createdAt: now, updatedAt: now, ...derive(type, definition, {}) };
  };
  let c = 0;
  const vmsOf: Array<Array<{ name: string; uuid: string; ip: string; mac: string }>> = [];
  for (let h = 0; h < spec.hosts; h++) {
    const name = hostName(prefix, h);
    const definition: HypervisorDefinition = { driver: 'sim', address: sim.hostAddress(name), capacity: spec.hostCapacity };
    const host = row('hypervisor', name, definition as unknown as JsonObject, 'up', null);
    nodes.push(host);
    hostIds.push(host.id);
    hostNames.push(name);
    const vms = [];
    for (let k = 0; k < spec.containersPerHost; k++, c++) {
      const ip = numberToIp(pool.network + 1 + c);
      const mac = macForIp(ip);
      const cname = containerName(c);
      const definition: ContainerDefinition = { kind: 'generic', ...spec.container, network: { ip, mac } } as ContainerDefinition;
      const container = row('container', cname, definition as unknown as JsonObject, 'running', host.id);
      keys.push({ key: keyOf.ip(ip), nodeId: container.id }, { key: keyOf.mac(mac), nodeId: container.id });
      nodes.push(container);
      vms.push({ name: cname, uuid: container.id, ip, mac });
    }
    vmsOf.push(vms);
  }
  const m = registry.dataSource.manager;
  await m.transaction(async (t) => {
    // Hosts first: containers name them as parents.
    for (let i = 0; i < nodes.length; i += ROWS_PER_INSERT) {
      await t.createQueryBuilder().insert().into(NodeEntity).values(nodes.slice(i, i + ROWS_PER_INSERT)).updateEntity(false).execute();
    }
    for (let i = 0; i < keys.length; i += ROWS_PER_INSERT) {
      await t.createQueryBuilder().insert().into(NodeKeyEntity).values(keys.slice(i, i + ROWS_PER_INSERT)).updateEntity(false).execute();
    }
  });
  for (let h = 0; h < spec.hosts; h += SIM_HOSTS_PER_CALL) {
    const names = hostNames.slice(h, h + SIM_HOSTS_PER_CALL);
    await sim.addFleet({
      hosts: names.map((id) => ({ id, ...spec.hostCapacity })),
      vms: names.flatMap((id, k) => vmsOf[h + k]!.map((vm) => ({ host: id, ...vm, state: 'running' as const, ...spec.container }))),
    });
  }
  return { hostIds, hostNames, containers: c };
}
