// The farm's state as the state folder keeps it (state-file.ts): a snapshot of the whole farm, and
// journal records of the farm-level part and of changed hosts. Live-migration copies are saved
// marked with their migration's id, so a restart rolls back whatever was in flight by dropping them.
import type { ObservedState } from '../drivers/driver';
import type { Resources } from '../domain/types';
import type { SavedRules } from './fault-rules';
import { emptyHost, type Host, type Vm, type Volume } from './model';
import type { HostPower } from './protocol';
import type { LoadedState } from './state-file';

const FORMAT = 'vmflow-sim/1';

interface SavedVm {
  name: string;
  uuid?: string;
  /** Older files named the uuid `id`. */
  id?: string;
  state: ObservedState;
  cpus: number;
  memoryMiB: number;
  diskGiB: number;
  mac?: string;
  ip?: string;
  image?: string;
  configs?: Record<string, string>;
  ignoresShutdown?: boolean;
  migration?: string;
}

interface SavedHost {
  id: string;
  capacity: Resources;
  baseLoad?: number;
  power?: HostPower;
  delays?: Record<string, number>;
  vms: SavedVm[];
  volumes: Array<Volume & { name: string }>;
}

export interface SavedState extends SavedRules {
  format: typeof FORMAT;
  savedAt: string;
  delays: Record<string, number>;
  hosts: SavedHost[];
}

/** What the farm is made of, in memory. */
export interface FarmState {
  readonly hosts: Iterable<Host>;
  readonly delays: Record<string, number>;
  readonly rules: SavedRules;
}

function savedVm(vm: Vm): SavedVm {
  const { configs, ...fields } = vm;
  return { ...fields, configs: Object.fromEntries(configs) };
}

function restoredVm({ id, uuid, configs, ...fields }: SavedVm): Vm {
  return {
    ...fields,
    uuid: uuid ?? id,
    configs: new Map(Object.entries(configs ?? {})),
    ignoresShutdown: fields.ignoresShutdown ?? false,
  };
}

export function savedHost(h: Host): SavedHost {
  return {
    id: h.id,
    capacity: h.capacity,
    baseLoad: h.baseLoad,
    power: h.power,
    delays: h.delays,
    vms: [...h.vms.values()].map(savedVm),
    volumes: [...h.volumes].map(([name, v]) => ({ name, ...v })),
  };
}

/** The farm-level part of the saved state: all of it but the hosts. */
export function savedFarm(state: Omit<FarmState, 'hosts'>): Omit<SavedState, 'hosts' | 'format' | 'savedAt'> {
  return { delays: state.delays, ...state.rules };
}

export function savedState(state: FarmState): SavedState {
  return {
    format: FORMAT,
    savedAt: new Date().toISOString(),
    ...savedFarm(state),
    hosts: [...state.hosts].map(savedHost),
  };
}

/**
 * The saved state as JSON text, each host's part taken from `hostText` (which may cache it): the
 * same text as JSON.stringify(savedState(state)), without serialising unchanged hosts again.
 */
export function savedStateText(state: FarmState, hostText: (host: Host) => string): string {
  const head = JSON.stringify({ ...savedState({ ...state, hosts: [] }), hosts: [] });
  const hosts: string[] = [];
  for (const h of state.hosts) hosts.push(hostText(h));
  return `${head.slice(0, -'[]}'.length)}[${hosts.join(',')}]}`;
}

/** The saved state a snapshot and the journal records after it describe together. */
export function replayedState({ snapshot, records }: LoadedState): unknown {
  if (records.length === 0) return snapshot;
  const hosts = new Map<string, unknown>(((snapshot.hosts ?? []) as SavedHost[]).map((h) => [h.id, h]));
  let farm: Record<string, unknown> = {};
  for (const record of records) {
    farm = record.farm;
    for (const [id, host] of Object.entries(record.hosts)) {
      if (host === null) hosts.delete(id);
      else hosts.set(id, host);
    }
  }
  return { ...snapshot, ...farm, hosts: [...hosts.values()] };
}

/** The farm a saved state describes, with the copies of migrations that were in flight dropped. */
export function restoredState(raw: unknown): { hosts: Host[]; delays: Record<string, number>; rules: Partial<SavedRules> } {
  const saved = raw as Partial<SavedState> | undefined;
  if (!saved || saved.format !== FORMAT) throw new Error(`sim state has an unknown format ${JSON.stringify(saved?.format)}`);
  const hosts = (saved.hosts ?? []).map((h) => {
    const host = emptyHost({
      id: h.id,
      capacity: h.capacity,
      baseLoad: h.baseLoad ?? 0,
      power: h.power ?? 'up',
      delays: h.delays ?? {},
    });
    for (const vm of h.vms) if (!vm.migration) host.vms.set(vm.name, restoredVm(vm));
    for (const { name, ...v } of h.volumes) if (!v.migration) host.volumes.set(name, v);
    return host;
  });
  return { hosts, delays: saved.delays ?? {}, rules: { ruleSeq: saved.ruleSeq, rules: saved.rules } };
}
