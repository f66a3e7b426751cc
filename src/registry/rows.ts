// Reads and writes of node, key and tag rows within one transaction (or one read).
import type { EntityManager } from 'typeorm';
import { InvalidInputError, KeyConflictError, NotFoundError, VersionConflictError } from '../domain/errors';
import type { NodeRecord } from '../domain/types';
import { isoNow, toRecord } from './columns';
import { RetryTransaction } from './db-errors';
import type { NodeRow } from './entities';
import { locksRows } from './transactions';

/** Rows per `IN (...)` list. */
const CHUNK = 500;

type KeyOwners = Map<string, { id: string; name: string }>;

// The statements of a write are plain SQL with `?` parameters, valid on SQLite and MySQL alike
// (both take backquoted names): TypeORM's query builder and entity mapping cost more CPU per
// statement than the database spends on these one-row reads and writes.

/** Column of `nodes` for each NodeRow field. */
const NODE_COLUMN: Record<keyof NodeRow, string> = {
  id: 'id',
  type: 'type',
  name: 'name',
  definition: 'definition',
  state: 'state',
  metadata: 'metadata',
  parentId: 'parent_id',
  version: 'version',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  resCpus: 'res_cpus',
  resMemoryMiB: 'res_memory_mib',
  resDiskGiB: 'res_disk_gib',
  expiresAt: 'expires_at',
  groupNames: 'group_names',
};
const NODE_FIELDS = Object.keys(NODE_COLUMN) as Array<keyof NodeRow>;

/** Every column of `nodes` (alias n) under its NodeRow name. */
export const ROW_COLUMNS = NODE_FIELDS.map((f) => `n.\`${NODE_COLUMN[f]}\` AS \`${f}\``).join(', ');

/** A row as the drivers return it, numbers made numbers (MySQL may return doubles as strings). */
function nodeRow(r: NodeRow): NodeRow {
  return {
    ...r,
    version: Number(r.version),
    resCpus: r.resCpus === null ? null : Number(r.resCpus),
    resMemoryMiB: r.resMemoryMiB === null ? null : Number(r.resMemoryMiB),
    resDiskGiB: r.resDiskGiB === null ? null : Number(r.resDiskGiB),
  };
}

/** Runs a write statement; returns the rows it changed. */
async function run(m: EntityManager, sql: string, params: readonly unknown[]): Promise<number> {
  if (!m.queryRunner) throw new Error('registry writes run in a transaction');
  const result = await m.queryRunner.query(sql, [...params], true);
  return Number(result.affected ?? 0);
}

export function marks(n: number): string {
  return Array(n).fill('?').join(', ');
}

export async function findRow(m: EntityManager, id: string): Promise<NodeRow | null> {
  const rows: NodeRow[] = await m.query(`SELECT ${ROW_COLUMNS} FROM \`nodes\` n WHERE n.\`id\` = ?`, [id]);
  return rows.length ? nodeRow(rows[0]!) : null;
}

/** Reads a row for writing: `SELECT ... FOR UPDATE` on MySQL (SQLite's transaction already excludes writers). */
export async function lockedRow(m: EntityManager, id: string, what = 'node'): Promise<NodeRow> {
  const rows: NodeRow[] = await m.query(`SELECT ${ROW_COLUMNS} FROM \`nodes\` n WHERE n.\`id\` = ?${locksRows(m) ? ' FOR UPDATE' : ''}`, [id]);
  if (!rows.length) throw new NotFoundError(what, id);
  return nodeRow(rows[0]!);
}

/** The row that owns a unique key, locked for writing as lockedRow locks it; null when the key is free. */
export async function lockedKeyOwner(m: EntityManager, key: string): Promise<NodeRow | null> {
  const rows: NodeRow[] = await m.query(
    `SELECT ${ROW_COLUMNS} FROM \`nodes\` n WHERE n.\`id\` = (SELECT k.\`node_id\` FROM \`node_keys\` k WHERE k.\`key\` = ?)${locksRows(m) ? ' FOR UPDATE' : ''}`,
    [key],
  );
  return rows.length ? nodeRow(rows[0]!) : null;
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

export function insertNode(m: EntityManager, row: NodeRow): Promise<void> {
  return insertNodes(m, [row]);
}

/** Inserts rows in one statement per chunk (a claim batch's placeholders). */
export async function insertNodes(m: EntityManager, rows: readonly NodeRow[]): Promise<void> {
  const columns = NODE_FIELDS.map((f) => `\`${NODE_COLUMN[f]}\``).join(', ');
  const one = `(${marks(NODE_FIELDS.length)})`;
  for (const part of chunks(rows)) {
    if (!part.length) continue;
    await run(m, `INSERT INTO \`nodes\` (${columns}) VALUES ${part.map(() => one).join(', ')}`, part.flatMap((row) => NODE_FIELDS.map((f) => row[f])));
  }
}

/** Writes changed columns, bumps the version and updated_at; guarded by the version read. Returns the row as written. */
export async function writeRow(m: EntityManager, row: NodeRow, changes: Partial<NodeRow>): Promise<NodeRow> {
  const values: Partial<NodeRow> = { ...changes, version: row.version + 1, updatedAt: isoNow() };
  const fields = (Object.keys(values) as Array<keyof NodeRow>).filter((f) => values[f] !== undefined);
  const affected = await run(
    m,
    `UPDATE \`nodes\` SET ${fields.map((f) => `\`${NODE_COLUMN[f]}\` = ?`).join(', ')} WHERE \`id\` = ? AND \`version\` = ?`,
    [...fields.map((f) => values[f]), row.id, row.version],
  );
  if (!affected) throw new RetryTransaction(`node ${row.id} changed under a lock`);
  return { ...row, ...Object.fromEntries(fields.map((f) => [f, values[f]])) };
}

export function insertKeys(m: EntityManager, nodeId: string, keys: readonly string[]): Promise<void> {
  return insertKeyPairs(m, keys.map((key) => [key, nodeId] as const));
}

/** Inserts `[key, nodeId]` pairs, of one node or of several. */
export async function insertKeyPairs(m: EntityManager, pairs: ReadonlyArray<readonly [string, string]>): Promise<void> {
  for (const part of chunks(pairs)) {
    if (!part.length) continue;
    await run(m, `INSERT INTO \`node_keys\` (\`key\`, \`node_id\`) VALUES ${part.map(() => '(?, ?)').join(', ')}`, part.flat());
  }
}

export async function insertTags(m: EntityManager, nodeId: string, tags: Record<string, string>): Promise<void> {
  const rows = Object.entries(tags);
  for (const part of chunks(rows)) {
    if (!part.length) continue;
    await run(
      m,
      `INSERT INTO \`node_tags\` (\`node_id\`, \`tag_key\`, \`tag_value\`) VALUES ${part.map(() => '(?, ?, ?)').join(', ')}`,
      part.flatMap(([k, v]) => [nodeId, k, v]),
    );
  }
}

/** Deletes nodes with their keys and tags; the caller deletes children first. */
export async function deleteNodes(m: EntityManager, ids: string[]): Promise<void> {
  if (!ids.length) return;
  const list = marks(ids.length);
  await run(m, `DELETE FROM \`node_keys\` WHERE \`node_id\` IN (${list})`, ids);
  await run(m, `DELETE FROM \`node_tags\` WHERE \`node_id\` IN (${list})`, ids);
  await run(m, `DELETE FROM \`nodes\` WHERE \`id\` IN (${list})`, ids);
}

export async function keyOwner(m: EntityManager, key: string): Promise<string | undefined> {
  const rows: { nodeId: string }[] = await m.query('SELECT `node_id` AS `nodeId` FROM `node_keys` WHERE `key` = ?', [key]);
  return rows[0]?.nodeId;
}

/** Owner id and name of each key that is taken. */
export async function keyOwners(m: EntityManager, keys: readonly string[]): Promise<KeyOwners> {
  const owners: KeyOwners = new Map();
  for (const part of chunks([...keys])) {
    if (!part.length) continue;
    const rows: { key: string; id: string; name: string }[] = await m.query(
      `SELECT k.\`key\` AS \`key\`, n.\`id\` AS \`id\`, n.\`name\` AS \`name\` FROM \`node_keys\` k INNER JOIN \`nodes\` n ON n.\`id\` = k.\`node_id\` WHERE k.\`key\` IN (${marks(part.length)})`,
      part,
    );
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

/** Attaches keys and tags to rows, in one query per chunk of rows. */
export async function hydrate(m: EntityManager, rows: readonly RecordRow[]): Promise<NodeRecord[]> {
  if (!rows.length) return [];
  const keys = new Map<string, string[]>();
  const tags = new Map<string, Record<string, string>>();
  for (const ids of chunks(rows.map((r) => r.id))) {
    const list = Array(ids.length).fill('?').join(', ');
    // Keys and tags in one statement: kind 'k' rows carry a key, kind 't' rows a tag.
    const found: { kind: string; nodeId: string; name: string; value: string | null }[] = await m.query(
      `SELECT 'k' AS \`kind\`, \`node_id\` AS \`nodeId\`, \`key\` AS \`name\`, NULL AS \`value\` FROM \`node_keys\` WHERE \`node_id\` IN (${list})
       UNION ALL SELECT 't', \`node_id\`, \`tag_key\`, \`tag_value\` FROM \`node_tags\` WHERE \`node_id\` IN (${list})`,
      [...ids, ...ids],
    );
    for (const f of found) {
      if (f.kind === 'k') (keys.get(f.nodeId) ?? keys.set(f.nodeId, []).get(f.nodeId)!).push(f.name);
      else (tags.get(f.nodeId) ?? tags.set(f.nodeId, {}).get(f.nodeId)!)[f.name] = f.value ?? '';
    }
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
