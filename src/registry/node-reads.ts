// Looking nodes up: by id, name or unique key, by query, and unique keys by prefix.
import type { EntityManager } from 'typeorm';
import type { NodeRecord } from '../domain/types';
import { NodeEntity, NodeKeyEntity, NodeTagEntity } from './entities';
import { findRow, hydrate } from './rows';
import type { Transactions } from './transactions';
import type { NodeQuery } from './types';

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
