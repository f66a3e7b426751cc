// Looking nodes up: by id, name or unique key, by query, and unique keys by prefix.
import type { EntityManager } from 'typeorm';
import { InvalidInputError } from '../domain/errors';
import type { NodeRecord, NodeType } from '../domain/types';
import { num, parse } from './columns';
import { NodeKeyEntity } from './entities';
import { chunks, hydrate, type RecordRow } from './rows';
import type { Transactions } from './transactions';
import type { NodeQuery, PlacedNode } from './types';

// Reads that serve lists and lookups are plain SQL with `?` parameters, valid on SQLite and MySQL
// alike (both take backquoted names): TypeORM's query builder and entity mapping cost more per
// page of 100 than the database does.

/** The columns a NodeRecord is made of, under the names NodeRow gives them. */
const RECORD_COLUMNS = ['id', 'type', 'name', 'definition', 'state', 'metadata', ['parent_id', 'parentId'], 'version', ['created_at', 'createdAt'], ['updated_at', 'updatedAt']]
  .map((c) => (typeof c === 'string' ? `n.\`${c}\` AS \`${c}\`` : `n.\`${c[0]}\` AS \`${c[1]}\``))
  .join(', ');

function placeholders(n: number): string {
  return Array(n).fill('?').join(', ');
}

async function recordWhere(m: EntityManager, condition: string, params: readonly unknown[]): Promise<NodeRecord | undefined> {
  const rows: RecordRow[] = await m.query(`SELECT ${RECORD_COLUMNS} FROM \`nodes\` n WHERE ${condition}`, [...params]);
  return rows.length ? (await hydrate(m, rows))[0] : undefined;
}

export async function findNode(db: Transactions, id: string): Promise<NodeRecord | undefined> {
  if (typeof id !== 'string') return undefined;
  return db.read((m) => recordWhere(m, 'n.`id` = ?', [id]));
}

export function findNodeByName(db: Transactions, name: string): Promise<NodeRecord | undefined> {
  return db.read((m) => recordWhere(m, 'n.`name` = ?', [name]));
}

export function findNodeByKey(db: Transactions, key: string): Promise<NodeRecord | undefined> {
  return db.read((m) => recordWhere(m, 'n.`id` = (SELECT k.`node_id` FROM `node_keys` k WHERE k.`key` = ?)', [key]));
}

export function listNodes(db: Transactions, query: NodeQuery): Promise<NodeRecord[]> {
  const { sql, params } = whereOf(query);
  let tail = ' ORDER BY n.`name` ASC';
  // A page by type after a name: MariaDB reads `type = ?` as a lookup on the index's first column
  // and walks it from the start of the type to the cursor (18 ms at 100,000 rows for a page near
  // the end, growing with the list), unless told to range over (type, name) from the cursor (1 ms
  // at any depth). SQLite's planner takes that range by itself. With other filters the optimizer
  // keeps its choice: a host's few containers are better found by (parent_id, type).
  const keysetOnType = query.type !== undefined && query.after !== undefined && Object.entries(query).every(([k, v]) => v === undefined || ['type', 'after', 'limit'].includes(k));
  const hint = keysetOnType && db.dialect === 'mysql' ? ' FORCE INDEX (`ix_nodes_type_name`)' : '';
  // MySQL accepts OFFSET only after LIMIT.
  if (query.limit !== undefined || query.offset !== undefined) tail += ` LIMIT ${count('limit', query.limit ?? Number.MAX_SAFE_INTEGER)}`;
  if (query.offset !== undefined) tail += ` OFFSET ${count('offset', query.offset)}`;
  return db.read(async (m) => hydrate(m, await m.query(`SELECT ${RECORD_COLUMNS} FROM \`nodes\` n${hint}${sql}${tail}`, params)));
}

export function countNodes(db: Transactions, query: NodeQuery): Promise<number> {
  const { sql, params } = whereOf(query);
  return db.read(async (m) => num(((await m.query(`SELECT COUNT(*) AS \`count\` FROM \`nodes\` n${sql}`, params)) as { count: unknown }[])[0]?.count));
}

/** A limit or offset, written into the SQL: a whole number or InvalidInputError. */
function count(field: 'limit' | 'offset', value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidInputError([{ field, problem: 'must be a whole number >= 0' }], 'node query');
  return value;
}

/** The WHERE clause of a query (with its leading space, or empty) and its parameters. */
function whereOf(query: NodeQuery): { sql: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const add = (clause: string, ...values: unknown[]) => {
    clauses.push(clause);
    params.push(...values);
  };
  // No values: a condition no row meets (an empty IN list is not SQL).
  const inList = (column: string, values: readonly string[]) => add(values.length ? `n.\`${column}\` IN (${placeholders(values.length)})` : '1 = 0', ...values);
  if (query.ids !== undefined) inList('id', query.ids);
  if (query.type !== undefined) add('n.`type` = ?', query.type);
  if (query.parentId === null) add('n.`parent_id` IS NULL');
  else if (query.parentId !== undefined) add('n.`parent_id` = ?', query.parentId);
  if (query.parentIds !== undefined) inList('parent_id', query.parentIds);
  if (query.state !== undefined) add('n.`state` = ?', query.state);
  if (query.tag !== undefined) {
    const tagged = 'SELECT t.`node_id` FROM `node_tags` t WHERE t.`tag_key` = ?';
    if (query.tag.value === undefined) add(`n.\`id\` IN (${tagged})`, query.tag.key);
    else add(`n.\`id\` IN (${tagged} AND t.\`tag_value\` = ?)`, query.tag.key, query.tag.value);
  }
  // Keyset paging: with the (type, name) index, a page deep in the list reads no row before it.
  if (query.after !== undefined) add('n.`name` > ?', query.after);
  return { sql: clauses.length ? ` WHERE ${clauses.join(' AND ')}` : '', params };
}

/**
 * What is on some hosts, as the monitor compares it with what they report: no keys, tags or
 * documents but a placeholder's container name, read in one query per few hundred hosts.
 */
export function placedOn(db: Transactions, hostIds: readonly string[]): Promise<PlacedNode[]> {
  if (!hostIds.length) return Promise.resolve([]);
  return db.read(async (m) => {
    const out: PlacedNode[] = [];
    for (const ids of chunks(hostIds)) {
      const rows: Array<{ id: string; type: string; name: string; state: string; parentId: string; version: unknown; definition: string | null }> = await m.query(
        `SELECT \`id\`, \`type\`, \`name\`, \`state\`, \`parent_id\` AS parentId, \`version\`,
                CASE WHEN \`type\` = 'placeholder' THEN \`definition\` END AS definition
           FROM \`nodes\` WHERE \`parent_id\` IN (${ids.map(() => '?').join(', ')})`,
        ids,
      );
      for (const r of rows) {
        const containerName = r.definition ? parse(r.definition).containerName : undefined;
        out.push({ id: r.id, type: r.type as NodeType, name: r.name, state: r.state, parentId: r.parentId, version: Number(r.version), ...(typeof containerName === 'string' ? { containerName } : {}) });
      }
    }
    return out;
  });
}

/** Every unique key starting with `prefix`, sorted. */
export function listKeys(db: Transactions, prefix: string): Promise<string[]> {
  return db.read(async (m) => {
    const qb = m.createQueryBuilder(NodeKeyEntity, 'k').select('k.key', 'key').where('k.key >= :prefix', { prefix });
    if (prefix.length) qb.andWhere('k.key < :end', { end: successor(prefix) });
    const rows: { key: string }[] = await qb.orderBy('k.key', 'ASC').getRawMany();
    return rows.map((r) => r.key);
  });
}

/** The smallest string greater than every string starting with `prefix`. */
function successor(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

/** The nodes with these names (those that exist), read in one query per few hundred names. */
export function findNodesByName(db: Transactions, names: readonly string[]): Promise<NodeRecord[]> {
  const unique = [...new Set(names)];
  if (!unique.length) return Promise.resolve([]);
  return db.read(async (m) => {
    const out: NodeRecord[] = [];
    for (const part of chunks(unique)) {
      out.push(...(await hydrate(m, await m.query(`SELECT ${RECORD_COLUMNS} FROM \`nodes\` n WHERE n.\`name\` IN (${placeholders(part.length)})`, part))));
    }
    return out;
  });
}

/** The hypervisors' ids in id order, each marked when an agent polls it: ids and a flag only, a fleet's worth is small. */
export function hypervisorIds(db: Transactions): Promise<Array<{ id: string; agent: boolean }>> {
  return db.read(async (m) => {
    const rows: Array<{ id: string; definition: string }> = await m.query("SELECT n.`id` AS `id`, n.`definition` AS `definition` FROM `nodes` n WHERE n.`type` = 'hypervisor' ORDER BY n.`id` ASC");
    return rows.map((r) => ({ id: r.id, agent: Boolean(parse(r.definition).agentQueue) }));
  });
}

/** The hypervisors whose ids are in (`after`, `last`], in id order; `after` null starts at the first. */
export function hypervisorsInRange(db: Transactions, range: { readonly after: string | null; readonly last: string }): Promise<NodeRecord[]> {
  const where = range.after === null ? 'n.`id` <= ?' : 'n.`id` > ? AND n.`id` <= ?';
  const params = range.after === null ? [range.last] : [range.after, range.last];
  return db.read(async (m) => hydrate(m, await m.query(`SELECT ${RECORD_COLUMNS} FROM \`nodes\` n WHERE n.\`type\` = 'hypervisor' AND ${where} ORDER BY n.\`id\` ASC`, params)));
}
