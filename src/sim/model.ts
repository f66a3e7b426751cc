// The farm's hosts, their VMs and disks, and what each host has free.
import type { ObservedState } from '../drivers/driver';
import type { Resources } from '../domain/types';
import { badRequest, refused } from './errors';
import { checkDelays, mergeDelays, positive } from './input';
import { LOAD_PER_RUNNING_CPU, type HostInit, type HostPower, type SimVmPatch, type SimVmSpec } from './protocol';

export interface Vm {
  readonly name: string;
  /** The registry id the VM was defined or cloned with (its spec's id); none for a VM added behind vmflow's back. */
  uuid?: string;
  state: ObservedState;
  cpus: number;
  memoryMiB: number;
  diskGiB: number;
  mac?: string;
  ip?: string;
  image?: string;
  configs: Map<string, string>;
  ignoresShutdown: boolean;
  /** Set on the target copy while a live migration is in flight. */
  migration?: string;
}

/** A disk. Volumes exist apart from definitions, as on a real host. */
export interface Volume {
  diskGiB: number;
  image?: string;
  migration?: string;
}

export interface Host {
  readonly id: string;
  capacity: Resources;
  baseLoad: number;
  power: HostPower;
  delays: Record<string, number>;
  readonly vms: Map<string, Vm>;
  readonly volumes: Map<string, Volume>;
  /** Memory and disk held by operations in flight. Never saved: a restart rolls them back. */
  readonly reserved: { memoryMiB: number; diskGiB: number };
}

/** Capacity an operation in flight holds on a host. */
export interface Reservation {
  readonly host: Host;
  readonly memoryMiB: number;
  readonly diskGiB: number;
}

export const STATES: readonly ObservedState[] = ['defined', 'stopped', 'running', 'suspended', 'migrating', 'crashed'];
/** States in which a VM holds its memory (and vCPUs) on the host. */
export const HOLDS_MEMORY: ReadonlySet<ObservedState> = new Set(['running', 'suspended', 'migrating']);
export const POWERED_OFF: ReadonlySet<ObservedState> = new Set(['defined', 'stopped']);
const HOST_ID = /^[A-Za-z0-9._-]{1,100}$/;

export function newVm(spec: SimVmSpec, state: ObservedState, configs = new Map<string, string>()): Vm {
  return {
    name: spec.name,
    uuid: spec.id,
    state,
    cpus: spec.cpus,
    memoryMiB: spec.memoryMiB,
    diskGiB: spec.diskGiB,
    mac: spec.mac,
    ip: spec.ip,
    image: spec.image,
    configs,
    ignoresShutdown: false,
  };
}

export function emptyHost(fields: Pick<Host, 'id' | 'capacity' | 'baseLoad' | 'power' | 'delays'>): Host {
  return { ...fields, vms: new Map(), volumes: new Map(), reserved: { memoryMiB: 0, diskGiB: 0 } };
}

/** A new host, up and empty, from what the admin API or the defaults give. */
export function hostFrom(init: HostInit): Host {
  if (!init || typeof init.id !== 'string' || !HOST_ID.test(init.id)) {
    throw badRequest(`host id must be 1-100 letters, digits, '.', '_' or '-', not ${JSON.stringify(init?.id)}`);
  }
  const delays: Record<string, number> = {};
  if (init.delays !== undefined) mergeDelays(delays, checkDelays(init.delays));
  return emptyHost({
    id: init.id,
    capacity: {
      cpus: positive(init.cpus, 'cpus'),
      memoryMiB: positive(init.memoryMiB, 'memoryMiB'),
      diskGiB: positive(init.diskGiB, 'diskGiB'),
    },
    baseLoad: positive(init.baseLoad ?? 0, 'baseLoad', true),
    power: 'up',
    delays,
  });
}

export function vmOf(host: Host, name: string): Vm {
  const vm = host.vms.get(name);
  if (!vm) throw refused(`${name} is not defined on ${host.id}`);
  return vm;
}

/** Changes a VM as the admin asks, without the checks an operation makes. */
export function tamper(host: Host, vm: Vm, patch: SimVmPatch): void {
  if (patch.state !== undefined) {
    if (!STATES.includes(patch.state)) throw badRequest(`state must be one of ${STATES.join(', ')}`);
    vm.state = patch.state;
  }
  if (patch.cpus !== undefined) vm.cpus = positive(patch.cpus, 'cpus');
  if (patch.memoryMiB !== undefined) vm.memoryMiB = positive(patch.memoryMiB, 'memoryMiB');
  if (patch.diskGiB !== undefined) vm.diskGiB = positive(patch.diskGiB, 'diskGiB', true);
  if (patch.mac !== undefined) vm.mac = patch.mac;
  if (patch.ignoresShutdown !== undefined) vm.ignoresShutdown = Boolean(patch.ignoresShutdown);
  if (patch.configs !== undefined) vm.configs = new Map(Object.entries(patch.configs));
  if (patch.provisioned === true && !host.volumes.has(vm.name)) host.volumes.set(vm.name, { diskGiB: vm.diskGiB });
  if (patch.provisioned === false) host.volumes.delete(vm.name);
}

/** What the host's VMs, disks and operations in flight take. */
export function used(host: Host): Resources {
  let cpus = 0;
  let memoryMiB = 0;
  let diskGiB = 0;
  for (const vm of host.vms.values()) {
    if (HOLDS_MEMORY.has(vm.state)) {
      cpus += vm.cpus;
      memoryMiB += vm.memoryMiB;
    }
  }
  for (const v of host.volumes.values()) diskGiB += v.diskGiB;
  return { cpus, memoryMiB: memoryMiB + host.reserved.memoryMiB, diskGiB: diskGiB + host.reserved.diskGiB };
}

export function free(host: Host, taken = used(host)): Resources {
  return {
    cpus: Math.max(0, host.capacity.cpus - taken.cpus),
    memoryMiB: Math.max(0, host.capacity.memoryMiB - taken.memoryMiB),
    diskGiB: Math.max(0, host.capacity.diskGiB - taken.diskGiB),
  };
}

export function load(host: Host, taken = used(host)): number {
  return Math.round((host.baseLoad + taken.cpus * LOAD_PER_RUNNING_CPU) * 100) / 100;
}

/** Refuses when `memoryMiB` or `diskGiB` more do not fit in what the host has free. */
export function fits(host: Host, name: string, memoryMiB: number, diskGiB: number): void {
  const left = free(host);
  if (memoryMiB > left.memoryMiB) {
    throw refused(
      `not enough free memory on ${host.id} for ${name}: it needs ${memoryMiB} MiB, ` +
        `${left.memoryMiB} MiB of ${host.capacity.memoryMiB} MiB are free`,
    );
  }
  if (diskGiB > left.diskGiB) {
    throw refused(
      `not enough free disk on ${host.id} for ${name}: it needs ${diskGiB} GiB, ` +
        `${left.diskGiB} GiB of ${host.capacity.diskGiB} GiB are free`,
    );
  }
}

/** Takes (`1`) or gives back (`-1`) a reservation. */
export function reserve(r: Reservation, sign: 1 | -1): void {
  r.host.reserved.memoryMiB += sign * r.memoryMiB;
  r.host.reserved.diskGiB += sign * r.diskGiB;
}
