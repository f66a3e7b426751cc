// Table mappings of the registry. EntitySchema rather than decorators: the code runs under
// tsx/esbuild, which emits no decorator metadata. The DDL lives in ./migrations.
import { EntitySchema } from 'typeorm';

/** A row of `nodes`. JSON documents are stored as text; times as ISO 8601 UTC strings. */
export interface NodeRow {
  id: string;
  type: string;
  name: string;
  definition: string;
  state: string;
  metadata: string;
  parentId: string | null;
  version: number;
  createdAt: string;
  updatedAt: string;
  // Denormalised from definition/metadata by the registry on every write, so capacity and
  // group counts are aggregates in SQL instead of JSON parsing per row. Null when not counted.
  resCpus: number | null;
  resMemoryMiB: number | null;
  resDiskGiB: number | null;
  /** Placeholders only: definition.expiresAt. */
  expiresAt: string | null;
  /** JSON array of the group names the node counts toward, or null. */
  groupNames: string | null;
}

export interface NodeKeyRow {
  key: string;
  nodeId: string;
}

export interface NodeTagRow {
  nodeId: string;
  tagKey: string;
  tagValue: string;
}

export interface NodeEventRow {
  id: number;
  nodeId: string;
  at: string;
  what: string;
  why: string;
  actor: string;
  commandId: string | null;
  data: string;
}

export const NodeEntity = new EntitySchema<NodeRow>({
  name: 'Node',
  tableName: 'nodes',
  columns: {
    id: { type: 'varchar', length: 36, primary: true },
    type: { type: 'varchar', length: 32 },
    name: { type: 'varchar', length: 255, unique: true },
    definition: { type: 'text' },
    state: { type: 'varchar', length: 64 },
    metadata: { type: 'text' },
    parentId: { name: 'parent_id', type: 'varchar', length: 36, nullable: true },
    version: { type: 'int' },
    createdAt: { name: 'created_at', type: 'varchar', length: 32 },
    updatedAt: { name: 'updated_at', type: 'varchar', length: 32 },
    resCpus: { name: 'res_cpus', type: 'double', nullable: true },
    resMemoryMiB: { name: 'res_memory_mib', type: 'double', nullable: true },
    resDiskGiB: { name: 'res_disk_gib', type: 'double', nullable: true },
    expiresAt: { name: 'expires_at', type: 'varchar', length: 32, nullable: true },
    groupNames: { name: 'group_names', type: 'text', nullable: true },
  },
});

export const NodeKeyEntity = new EntitySchema<NodeKeyRow>({
  name: 'NodeKey',
  tableName: 'node_keys',
  columns: {
    key: { type: 'varchar', length: 255, primary: true },
    nodeId: { name: 'node_id', type: 'varchar', length: 36 },
  },
});

export const NodeTagEntity = new EntitySchema<NodeTagRow>({
  name: 'NodeTag',
  tableName: 'node_tags',
  columns: {
    nodeId: { name: 'node_id', type: 'varchar', length: 36, primary: true },
    tagKey: { name: 'tag_key', type: 'varchar', length: 255, primary: true },
    tagValue: { name: 'tag_value', type: 'varchar', length: 255 },
  },
});

export const NodeEventEntity = new EntitySchema<NodeEventRow>({
  name: 'NodeEvent',
  tableName: 'node_events',
  columns: {
    id: { type: 'int', primary: true, generated: 'increment' },
    nodeId: { name: 'node_id', type: 'varchar', length: 36 },
    at: { type: 'varchar', length: 32 },
    what: { type: 'varchar', length: 64 },
    why: { type: 'text' },
    actor: { type: 'varchar', length: 255 },
    commandId: { name: 'command_id', type: 'varchar', length: 128, nullable: true },
    data: { type: 'text' },
  },
});

export const ENTITIES = [NodeEntity, NodeKeyEntity, NodeTagEntity, NodeEventEntity];

/** Every table of the registry, in an order safe for deletes (children of foreign keys first). */
export const TABLES = ['host_samples', 'node_events', 'node_tags', 'node_keys', 'nodes'] as const;
