// Reads and writes of node, key and tag rows within one transaction (or one read).
import type { EntityManager } from 'typeorm';
import { In } from 'typeorm';
import { InvalidInputError, KeyConflictError, NotFoundError, VersionConflictError } from '../domain/errors';
import type { NodeRecord } from '../domain/types';
import { isoNow, toRecord } from './columns';
import { RetryTransaction } from './db-errors';
import { NodeEntity, NodeKeyEntity, NodeTagEntity, type NodeRow } from './entities';
import { locksRows } from './transactions';

/** Rows per `IN (...)` list. */
const CHUNK = 500;

type KeyOwners = Map<string, { id: string; name: string }>;

export function findRow(m: EntityManager, id: string): Promise<NodeRow | null> {
  return m.createQueryBuilder(NodeEntity, 'n').where('n.id = :id', { id }).getOne();
}

/** Reads a row for writing: `SELECT ... FOR UPDATE` on MySQL (SQLite's transaction already excludes writers). */
export async function lockedRow(m: EntityManager, id: string, what = 'node'): Promise<NodeRow> {
  const qb = m.createQueryBuilder(NodeEntity, 'n').where('n.id = :id', { id });
  if (locksRows(m)) qb.setLock('pessimistic_write');
  const row = await qb.getOne();
  if (!row) throw new NotFoundError(what, id);
  return row;
}

/** Locks a hypervisor's row: claims and capacity re-checks on one host take turns here. */
export async function lockHost(m: EntityManager, hostId: string): Promise<NodeRow> {
  const host = await lockedRow(m, hostId, 'hypervisor');
  if (host.type !== 'hypervisor')
    throw new InvalidInputError([{ field: 'hostId', problem: `names ${withArticle(host.type)}, not a hypervisor` }], 'claim');
  return host;
}

export function checkVersion(row: NodeRow, expected: number | undefined): void {
  if (expected !== undefined && row.version !== expected) throw new VersionConflictError(row.id, expected, row.version);
}

export async function insertNode(m: EntityManager, row: NodeRow): Promise<void> {
  await m.createQueryBuilder().insert().into(NodeEntity).values(row).updateEntity(false).execute();
}

/** Writes changed columns, bumps the version and updated_at; guarded by the version read. */
export async function writeRow(m: EntityManager, row: NodeRow, changes: Partial<NodeRow>): Promise<void> {
  const result = await m.update(
    NodeEntity,
    { id: row.id, version: row.version },
    { ...changes, version: row.version + 1, updatedAt: isoNow() },
  );
  if (!result.affected) throw new RetryTransaction(`node ${row.id} changed under a lock`);
}

export async function insertKeys(m: EntityManager, nodeId: string, keys: readonly string[]): Promise<void> {
  for (const part of chunks([...keys])) {
    await m
      .createQueryBuilder()
      .insert()
      .into(NodeKeyEntity)
      .values(part.map((key) => ({ key, nodeId })))
      .updateEntity(false)
      .execute();
  }
}

export async function insertTags(m: EntityManager, nodeId: string, tags: Record<string, string>): Promise<void> {
  const rows = Object.entries(tags).map(([tagKey, tagValue]) => ({ nodeId, tagKey, tagValue }));
  for (const part of chunks(rows)) {
    await m.createQueryBuilder().insert().into(NodeTagEntity).values(part).updateEntity(false).execute();
  }
}

/** Deletes nodes with their keys and tags; the caller deletes children first. */
export async function deleteNodes(m: EntityManager, ids: string[]): Promise<void> {
  await m.delete(NodeKeyEntity, { nodeId: In(ids) });
  await m.delete(NodeTagEntity, { nodeId: In(ids) });
  await m.delete(NodeEntity, { id: In(ids) });
}

export async function keyOwner(m: EntityManager, key: string): Promise<string | undefined> {
  const row = await m.createQueryBuilder(NodeKeyEntity, 'k').where('k.key = :key', { key }).getOne();
  return row?.nodeId;
}

/** Owner id and name of each key that is taken. */
export async function keyOwners(m: EntityManager, keys: readonly string[]): Promise<KeyOwners> {
  const owners: KeyOwners = new Map();
  for (const part of chunks([...keys])) {
    if (!part.length) continue;
    const rows: { key: string; id: string; name: string }[] = await m
      .createQueryBuilder(NodeKeyEntity, 'k')
      .innerJoin(NodeEntity.options.name, 'n', 'n.id = k.nodeId')
      .select('k.key', 'key')
      .addSelect('n.id', 'id')
      .addSelect('n.name', 'name')
      .where('k.key IN (:...keys)', { keys: part })
      .getRawMany();
    for (const r of rows) owners.set(r.key, { id: r.id, name: r.name });
  }
  return owners;
}

/** Throws KeyConflictError for the first key (in the given order) owned by another node. */
export async function assertKeysFree(m: EntityManager, keys: readonly string[], selfId: string, known?: KeyOwners): Promise<void> {
  const owners = known ?? (await keyOwners(m, keys));
  for (const key of keys) {
    const owner = owners.get(key);
    if (owner && owner.id !== selfId) throw new KeyConflictError(key, owner.id, owner.name);
  }
}

/** After a unique violation: the conflict naming the key and its owner, or a retry when the owner is gone. */
export async function conflictFor(m: EntityManager, keys: readonly string[], selfId: string): Promise<Error> {
  const owners = await keyOwners(m, keys);
  for (const key of keys) {
    const owner = owners.get(key);
    if (owner && owner.id !== selfId) return new KeyConflictError(key, owner.id, owner.name);
  }
  return new RetryTransaction(`a competitor released ${keys.join(', ')}`);
}

export async function loadRecord(m: EntityManager, id: string): Promise<NodeRecord> {
  const row = await findRow(m, id);
  if (!row) throw new NotFoundError('node', id);
  return (await hydrate(m, [row]))[0]!;
}

/** The columns of a node row that a NodeRecord is made of. */
export type RecordRow = Pick<NodeRow, 'id' | 'type' | 'name' | 'definition' | 'state' | 'metadata' | 'parentId' | 'version' | 'createdAt' | 'updatedAt'>;

/** Attaches keys and tags to rows, in two queries per chunk of rows. */
export async function hydrate(m: EntityManager, rows: readonly RecordRow[]): Promise<NodeRecord[]> {
  if (!rows.length) return [];
  const keys = new Map<string, string[]>();
  const tags = new Map<string, Record<string, string>>();
  for (const ids of chunks(rows.map((r) => r.id))) {
    const list = Array(ids.length).fill('?').join(', ');
    const keyRows: { nodeId: string; key: string }[] = await m.query(`SELECT \`node_id\` AS \`nodeId\`, \`key\` FROM \`node_keys\` WHERE \`node_id\` IN (${list})`, ids);
    for (const k of keyRows) (keys.get(k.nodeId) ?? keys.set(k.nodeId, []).get(k.nodeId)!).push(k.key);
    const tagRows: { nodeId: string; tagKey: string; tagValue: string }[] = await m.query(
      `SELECT \`node_id\` AS \`nodeId\`, \`tag_key\` AS \`tagKey\`, \`tag_value\` AS \`tagValue\` FROM \`node_tags\` WHERE \`node_id\` IN (${list})`,
      ids,
    );
    for (const t of tagRows) (tags.get(t.nodeId) ?? tags.set(t.nodeId, {}).get(t.nodeId)!)[t.tagKey] = t.tagValue;
  }
  return rows.map((r) => toRecord(r, keys.get(r.id) ?? [], tags.get(r.id) ?? {}));
}

export function uniqueKeys(keys: readonly string[]): string[] {
  return [...new Set(keys)];
}

export function* chunks<T>(items: readonly T[], size = CHUNK): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

export function withArticle(word: string): string {
  return `${/^[aeiou]/.test(word) ? 'an' : 'a'} ${word}`;
}
