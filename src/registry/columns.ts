// Between stored rows and records: the columns derived from a node's definition and metadata,
// and the reading of JSON and numeric columns as the drivers return them.
import { META, ZERO, allowance, type HypervisorDefinition, type JsonObject, type NodeRecord, type NodeType, type Resources } from '../domain/types';
import type { NodeRow } from './entities';
import { isPlainObject } from './validation';

export type Derived = Pick<NodeRow, 'resCpus' | 'resMemoryMiB' | 'resDiskGiB' | 'expiresAt' | 'groupNames'>;

/** The columns the registry derives from a node's definition and metadata. */
export function derive(type: string, definition: JsonObject, metadata: JsonObject): Derived {
  if (type === 'container') {
    return {
      resCpus: num(definition.cpus),
      resMemoryMiB: num(definition.memoryMiB),
      resDiskGiB: num(definition.diskGiB),
      expiresAt: null,
      groupNames: groupsColumn(metadata[META.groups]),
    };
  }
  if (type === 'placeholder') {
    const r = isPlainObject(definition.resources) ? definition.resources : {};
    const expires = typeof definition.expiresAt === 'string' ? Date.parse(definition.expiresAt) : NaN;
    return {
      resCpus: num(r.cpus),
      resMemoryMiB: num(r.memoryMiB),
      resDiskGiB: num(r.diskGiB),
      // An unreadable expiry counts as long expired: the collector removes it.
      expiresAt: new Date(Number.isNaN(expires) ? 0 : expires).toISOString(),
      groupNames: groupsColumn(definition.groups),
    };
  }
  return { resCpus: null, resMemoryMiB: null, resDiskGiB: null, expiresAt: null, groupNames: null };
}

function groupsColumn(value: unknown): string | null {
  if (!Array.isArray(value)) return null;
  const names = value.filter((g): g is string => typeof g === 'string' && g.length > 0);
  return names.length ? JSON.stringify(names) : null;
}

export function parseGroups(column: string): string[] {
  try {
    const v = JSON.parse(column);
    return Array.isArray(v) ? v.filter((g): g is string => typeof g === 'string') : [];
  } catch {
    return [];
  }
}

/** The resources a row holds on its host (containers and placeholders; zero for the rest). */
export function resourcesOfRow(d: Derived): Resources {
  return { cpus: d.resCpus ?? 0, memoryMiB: d.resMemoryMiB ?? 0, diskGiB: d.resDiskGiB ?? 0 };
}

/** What a hypervisor row may hold in total: capacity times overcommit, read leniently. */
export function allowanceOf(host: Pick<NodeRow, 'definition'>): Resources {
  const def = parse(host.definition) as Partial<HypervisorDefinition>;
  if (!isPlainObject(def.capacity)) return ZERO;
  const capacity = def.capacity as Partial<Resources>;
  const o = isPlainObject(def.overcommit) ? (def.overcommit as Partial<HypervisorDefinition['overcommit'] & object>) : {};
  return allowance({
    capacity: { cpus: num(capacity.cpus), memoryMiB: num(capacity.memoryMiB), diskGiB: num(capacity.diskGiB) },
    overcommit: { cpu: num(o.cpu, 1), memory: num(o.memory, 1), disk: num(o.disk, 1) },
  });
}

export function toRecord(r: Pick<NodeRow, 'id' | 'type' | 'name' | 'definition' | 'state' | 'metadata' | 'parentId' | 'version' | 'createdAt' | 'updatedAt'>, keys: readonly string[], tags: Record<string, string>): NodeRecord {
  return {
    id: r.id,
    type: r.type as NodeType,
    name: r.name,
    definition: parse(r.definition),
    state: r.state,
    metadata: parse(r.metadata),
    tags: sortedObject(tags),
    parentId: r.parentId ?? null,
    keys: [...keys].sort(),
    version: Number(r.version),
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

/** A numeric column or JSON value: drivers return sums and decimals as strings. */
export function num(value: unknown, fallback = 0): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  return Number.isFinite(n) ? n : fallback;
}

export function parse(text: string): JsonObject {
  const value = JSON.parse(text) as unknown;
  return isPlainObject(value) ? value : {};
}

function sortedObject(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function isoNow(): string {
  return new Date().toISOString();
}
