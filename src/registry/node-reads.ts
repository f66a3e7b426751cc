// Looking nodes up: by id, name or unique key, by query, and unique keys by prefix.
import type { EntityManager } from 'typeorm';
import type { NodeRecord, NodeType } from '../domain/types';
import { parse } from './columns';
import { NodeEntity, NodeKeyEntity, NodeTagEntity } from './entities';
import { chunks, findRow, hydrate } from './rows';
import type { Transactions } from './transactions';
import type { NodeQuery, PlacedNode } from './types';

export async function findNode(db: Transactions, id: string): Promise<NodeRecord | undefined> {
  if (typeof id !== 'string') return undefined;
  return db.read(async (m) => {
    const row = await findRow(m, id);
    return row ? (await hydrate(m, [row]))[0] : undefined;
  });
}

export function findNodeByName(db: Transactions, name: string): Promise<NodeRecord | undefined> {
  return db.read(async (m) => {
    const row = await m.createQueryBuilder(NodeEntity, 'n').where('n.name = :name', { name }).getOne();
    return row ? (await hydrate(m, [row]))[0] : undefined;
  });
}

export function findNodeByKey(db: Transactions, key: string): Promise<NodeRecord | undefined> {
  return db.read(async (m) => {
    const row = await m
      .createQueryBuilder(NodeEntity, 'n')
      .innerJoin(NodeKeyEntity.options.name, 'k', 'k.nodeId = n.id')
      .where('k.key = :key', { key })
      .getOne();
    return row ? (await hydrate(m, [row]))[0] : undefined;
  });
}

export function listNodes(db: Transactions, query: NodeQuery): Promise<NodeRecord[]> {
  return db.read(async (m) => {
    const qb = queryNodes(m, query).orderBy('n.name', 'ASC');
    if (query.after !== undefined) qb.andWhere('n.name > :after', { after: query.after });
    if (query.limit !== undefined) qb.limit(query.limit);
    if (query.offset !== undefined) {
      // MySQL accepts OFFSET only after LIMIT.
      if (query.limit === undefined) qb.limit(Number.MAX_SAFE_INTEGER);
      qb.offset(query.offset);
    }
    return hydrate(m, await qb.getMany());
  });
}

export function countNodes(db: Transactions, query: NodeQuery): Promise<number> {
  return db.read((m) => queryNodes(m, query).getCount());
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

function queryNodes(m: EntityManager, query: NodeQuery) {
  const qb = m.createQueryBuilder(NodeEntity, 'n');
  // No ids: a condition no row meets (an empty IN list is not SQL).
  if (query.ids !== undefined) qb.andWhere(query.ids.length ? 'n.id IN (:...ids)' : '1 = 0', { ids: [...query.ids] });
  if (query.type !== undefined) qb.andWhere('n.type = :type', { type: query.type });
  if (query.parentId === null) qb.andWhere('n.parentId IS NULL');
  else if (query.parentId !== undefined) qb.andWhere('n.parentId = :parentId', { parentId: query.parentId });
  if (query.parentIds !== undefined) qb.andWhere(query.parentIds.length ? 'n.parentId IN (:...parentIds)' : '1 = 0', { parentIds: [...query.parentIds] });
  if (query.state !== undefined) qb.andWhere('n.state = :state', { state: query.state });
  if (query.tag !== undefined) {
    const tagged = m
      .createQueryBuilder(NodeTagEntity, 't')
      .select('t.nodeId')
      .where('t.tagKey = :tagKey', { tagKey: query.tag.key });
    if (query.tag.value !== undefined) tagged.andWhere('t.tagValue = :tagValue', { tagValue: query.tag.value });
    qb.andWhere(`n.id IN (${tagged.getQuery()})`).setParameters(tagged.getParameters());
  }
  return qb;
}

/** The smallest string greater than every string starting with `prefix`. */
function successor(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}
