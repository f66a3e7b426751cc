// Changing nodes: add, update, rename, move, keys, remove. Each is one transaction; a node's row
// is locked before it changes and its version guards the write.
import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { In } from 'typeorm';
import { HasChildrenError, InvalidInputError, KeyConflictError, NotFoundError, type FieldProblem } from '../domain/errors';
import { keyOf, type JsonObject, type NodeRecord } from '../domain/types';
import { derive, isoNow, parse, toRecord } from './columns';
import { isForeignKeyViolation, isUniqueViolation, RetryTransaction } from './db-errors';
import { NodeEntity, NodeKeyEntity, NodeTagEntity, type NodeRow } from './entities';
import {
  assertKeysFree,
  checkVersion,
  chunks,
  conflictFor,
  deleteNodes,
  findRow,
  insertKeys,
  insertNode,
  insertTags,
  keyOwners,
  loadRecord,
  lockedRow,
  uniqueKeys,
  writeRow,
} from './rows';
import { locksRows, type Transactions } from './transactions';
import type { NewNode, NodePatch } from './types';
import { checkId, checkKeys, checkMetadataSize, checkName, checkNewNode, checkPatch, dropNulls, mergeMetadata } from './validation';

/** Deepest parent chain walked when checking a move for cycles. */
const MAX_DEPTH = 10_000;

export async function addNode(db: Transactions, node: NewNode): Promise<NodeRecord> {
  const problems = checkNewNode(node);
  if (problems.length) throw new InvalidInputError(problems, describe(node));
  const id = node.id ?? randomUUID();
  const keys = uniqueKeys([keyOf.name(node.name), ...(node.keys ?? [])]);
  const definition = node.definition as JsonObject;
  const metadata = dropNulls(node.metadata ?? {});

  return db.write(async (m) => {
    if (node.parentId) {
      const parent = await findRow(m, node.parentId);
      if (!parent) throw new NotFoundError('parent node', node.parentId);
    }
    // No read of the id and keys first: the inserts find a node already there (a retry) or a key
    // taken, and insertNewNode says which, as a read before them would.
    const now = isoNow();
    const row: NodeRow = {
      id,
      type: node.type,
      name: node.name,
      definition: JSON.stringify(definition),
      state: node.state,
      metadata: JSON.stringify(metadata),
      parentId: node.parentId ?? null,
      version: 1,
      createdAt: now,
      updatedAt: now,
      ...derive(node.type, definition, metadata),
    };
    const competitor = await insertNewNode(m, row, node, keys);
    if (competitor) return competitor;
    await insertTags(m, id, node.tags ?? {});
    // What was just written, without reading it back.
    return toRecord(row, keys, node.tags ?? {});
  });
}

/** Inserts the row and its keys; returns the stored node when a competitor added the same one first. */
async function insertNewNode(m: EntityManager, row: NodeRow, node: NewNode, keys: readonly string[]): Promise<NodeRecord | undefined> {
  try {
    await insertNode(m, row);
  } catch (err) {
    if (isUniqueViolation(err)) {
      // A competitor committed between our checks and our insert: the same id, or the name.
      const existing = node.id !== undefined ? await findRow(m, row.id) : undefined;
      if (existing) return sameNodeOrConflict(m, existing, node);
      throw await conflictFor(m, keys, row.id);
    }
    if (isForeignKeyViolation(err) && node.parentId) {
      if (!(await findRow(m, node.parentId))) throw new NotFoundError('parent node', node.parentId);
      throw new RetryTransaction('parent changed during add');
    }
    throw err;
  }
  try {
    await insertKeys(m, row.id, keys);
  } catch (err) {
    // Our own node row is in this transaction: only the keys can be the conflict now.
    if (isUniqueViolation(err)) throw await conflictFor(m, keys, row.id);
    throw err;
  }
  return undefined;
}

export async function updateNode(db: Transactions, id: string, expectedVersion: number | undefined, patch: NodePatch): Promise<NodeRecord> {
  const problems = checkPatch(patch);
  if (problems.length) throw new InvalidInputError(problems, `patch of node ${id}`);
  return db.write(async (m) => {
    const row = await lockedRow(m, id);
    checkVersion(row, expectedVersion);
    const definition = patch.definition !== undefined ? (patch.definition as JsonObject) : parse(row.definition);
    const metadata = patch.metadata !== undefined ? mergeMetadata(parse(row.metadata), patch.metadata) : parse(row.metadata);
    const serializedMetadata = JSON.stringify(metadata);
    const sizeProblems: FieldProblem[] = [];
    checkMetadataSize(serializedMetadata, 'metadata', sizeProblems);
    if (sizeProblems.length) throw new InvalidInputError(sizeProblems, `patch of ${row.name}`);
    await writeRow(m, row, {
      definition: JSON.stringify(definition),
      metadata: serializedMetadata,
      ...(patch.state !== undefined ? { state: patch.state } : {}),
      ...derive(row.type, definition, metadata),
    });
    if (patch.tags !== undefined) {
      await m.delete(NodeTagEntity, { nodeId: id });
      await insertTags(m, id, patch.tags);
    }
    return loadRecord(m, id);
  });
}

export async function renameNode(db: Transactions, id: string, expectedVersion: number | undefined, newName: string): Promise<NodeRecord> {
  const problems: FieldProblem[] = [];
  checkName(newName, 'name', problems);
  if (problems.length) throw new InvalidInputError(problems, `rename of node ${id}`);
  const newKey = keyOf.name(newName);
  return db.write(async (m) => {
    const row = await lockedRow(m, id);
    checkVersion(row, expectedVersion);
    if (row.name === newName) return loadRecord(m, id);
    await assertKeysFree(m, [newKey], id);
    try {
      await writeRow(m, row, { name: newName });
      const moved = await m.update(NodeKeyEntity, { key: keyOf.name(row.name), nodeId: id }, { key: newKey });
      if (!moved.affected) await insertKeys(m, id, [newKey]);
    } catch (err) {
      if (isUniqueViolation(err)) throw await conflictFor(m, [newKey], id);
      throw err;
    }
    return loadRecord(m, id);
  });
}

export async function moveNode(db: Transactions, id: string, expectedVersion: number | undefined, parentId: string | null): Promise<NodeRecord> {
  if (parentId !== null) {
    const problems: FieldProblem[] = [];
    checkId(parentId, 'parentId', problems);
    if (problems.length) throw new InvalidInputError(problems, `move of node ${id}`);
  }
  return db.write(async (m) => {
    const row = await lockedRow(m, id);
    checkVersion(row, expectedVersion);
    if (row.parentId === parentId) return loadRecord(m, id);
    if (parentId !== null) await assertNoCycle(m, id, row.name, parentId);
    try {
      await writeRow(m, row, { parentId });
    } catch (err) {
      if (isForeignKeyViolation(err)) throw new RetryTransaction('parent vanished during move');
      throw err;
    }
    return loadRecord(m, id);
  });
}

export async function addKeys(db: Transactions, id: string, keys: readonly string[]): Promise<NodeRecord> {
  const problems: FieldProblem[] = [];
  checkKeys(keys, 'keys', problems);
  if (problems.length) throw new InvalidInputError(problems, `keys of node ${id}`);
  const wanted = uniqueKeys(keys);
  return db.write(async (m) => {
    await lockedRow(m, id);
    const owners = await keyOwners(m, wanted);
    const missing = wanted.filter((k) => !owners.has(k));
    await assertKeysFree(m, wanted, id, owners);
    if (missing.length) {
      try {
        await insertKeys(m, id, missing);
      } catch (err) {
        if (isUniqueViolation(err)) throw await conflictFor(m, missing, id);
        throw err;
      }
      // Keys have their own uniqueness guard, so they touch updated_at but not the version.
      await m.update(NodeEntity, { id }, { updatedAt: isoNow() });
    }
    return loadRecord(m, id);
  });
}

export async function removeKeys(db: Transactions, id: string, keys: readonly string[]): Promise<NodeRecord> {
  const problems: FieldProblem[] = [];
  checkKeys(keys, 'keys', problems);
  if (problems.length) throw new InvalidInputError(problems, `keys of node ${id}`);
  return db.write(async (m) => {
    await lockedRow(m, id);
    const wanted = uniqueKeys(keys);
    if (wanted.length) {
      const removed = await m.delete(NodeKeyEntity, { nodeId: id, key: In(wanted) });
      if (removed.affected) await m.update(NodeEntity, { id }, { updatedAt: isoNow() });
    }
    return loadRecord(m, id);
  });
}

export async function removeNode(db: Transactions, id: string, options: { cascade?: boolean }): Promise<void> {
  await db.write(async (m) => {
    await lockedRow(m, id);
    const childCount = await m.count(NodeEntity, { where: { parentId: id } });
    if (childCount > 0 && !options.cascade) throw new HasChildrenError(id, childCount);
    const levels = await subtreeLevels(m, id);
    try {
      // Deepest first, so foreign keys hold.
      for (const level of levels.reverse()) {
        for (const ids of chunks(level)) await deleteNodes(m, ids);
      }
    } catch (err) {
      if (isForeignKeyViolation(err)) throw new RetryTransaction('a child was added during removal');
      throw err;
    }
  });
}

/** The ids of a node's subtree, level by level from the node itself down. */
async function subtreeLevels(m: EntityManager, id: string): Promise<string[][]> {
  const levels: string[][] = [[id]];
  for (let frontier = [id]; frontier.length; ) {
    const next: string[] = [];
    for (const ids of chunks(frontier)) {
      const qb = m.createQueryBuilder(NodeEntity, 'n').select('n.id', 'id').where('n.parentId IN (:...ids)', { ids });
      if (locksRows(m)) qb.setLock('pessimistic_write');
      const rows: { id: string }[] = await qb.getRawMany();
      next.push(...rows.map((r) => r.id));
    }
    if (next.length) levels.push(next);
    frontier = next;
  }
  return levels;
}

/** An add repeated with the same id: the stored node when it is the same node, a conflict otherwise. */
async function sameNodeOrConflict(m: EntityManager, existing: NodeRow, node: NewNode): Promise<NodeRecord> {
  if (existing.type === node.type && existing.name === node.name) return loadRecord(m, existing.id);
  throw new KeyConflictError(`id:${existing.id}`, existing.id, existing.name);
}

async function assertNoCycle(m: EntityManager, id: string, name: string, parentId: string): Promise<void> {
  const cycle = () =>
    new InvalidInputError([{ field: 'parentId', problem: `would make ${name} (${id}) its own ancestor` }], `move of ${name}`);
  let current: string | null = parentId;
  for (let depth = 0; current !== null && depth < MAX_DEPTH; depth++) {
    if (current === id) throw cycle();
    const qb = m.createQueryBuilder(NodeEntity, 'n').where('n.id = :id', { id: current });
    // Locking the chain serialises concurrent moves that could otherwise close a loop together.
    if (locksRows(m)) qb.setLock('pessimistic_write');
    const ancestor: NodeRow | null = await qb.getOne();
    if (!ancestor) {
      if (depth === 0) throw new NotFoundError('parent node', parentId);
      return;
    }
    current = ancestor.parentId;
  }
}

function describe(node: NewNode): string {
  const type = typeof node?.type === 'string' ? node.type : 'node';
  return typeof node?.name === 'string' && node.name ? `${type} ${node.name}` : type;
}
