// The registry on a relational database through TypeORM: SQLite (better-sqlite3) embedded,
// MySQL/MariaDB (mysql2) in production. Consistency comes from the database itself: unique keys
// are primary-key rows, every write is one transaction, nodes carry an optimistic version, and
// capacity claims take a row lock on the host.
import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { In } from 'typeorm';
import {
  HasChildrenError,
  InvalidInputError,
  KeyConflictError,
  NoCapacityError,
  NotFoundError,
  VersionConflictError,
  type FieldProblem,
} from '../domain/errors';
import {
  META,
  PLACEHOLDER_STATE,
  ZERO,
  allowance,
  keyOf,
  type HypervisorDefinition,
  type JsonObject,
  type NodeRecord,
  type NodeType,
  type PlaceholderDefinition,
  type Resources,
} from '../domain/types';
import { isForeignKeyViolation, isTransient, isUniqueViolation, RetryTransaction } from './db-errors';
import {
  NodeEntity,
  NodeEventEntity,
  NodeKeyEntity,
  NodeTagEntity,
  TABLES,
  type NodeEventRow,
  type NodeRow,
} from './entities';
import type { ClaimRequest, HostSnapshot, NewNode, NewNodeEvent, NodeEvent, NodePatch, NodeQuery, Registry } from './types';
import {
  checkId,
  checkKeys,
  checkMetadataSize,
  checkName,
  checkNewNode,
  checkPatch,
  dropNulls,
  isPlainObject,
  mergeMetadata,
} from './validation';

export type Dialect = 'sqlite' | 'mysql';

/** Attempts of one transaction before a deadlock or a vanished competitor becomes the caller's problem. */
const MAX_ATTEMPTS = 10;
/** Rows per `IN (...)` list. */
const CHUNK = 500;
/** Deepest parent chain walked when checking a move for cycles. */
const MAX_DEPTH = 10_000;
/** Tolerance of capacity sums, which are floating point. */
const EPSILON = 1e-9;

const RESOURCE_WORDS: Record<keyof Resources, string> = { cpus: 'cpu', memoryMiB: 'memory', diskGiB: 'disk' };

type Derived = Pick<NodeRow, 'resCpus' | 'resMemoryMiB' | 'resDiskGiB' | 'expiresAt' | 'groupNames'>;

/** Pooled MySQL connections whose session already runs READ COMMITTED. */
const readCommitted = new WeakSet<object>();

/** Serialises everything on SQLite's one shared connection, so no call sees another's open transaction. */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

export class SqlRegistry implements Registry {
  private readonly sqliteLock = new Mutex();

  constructor(
    readonly dataSource: DataSource,
    readonly dialect: Dialect,
  ) {}

  // ---------------------------------------------------------------- nodes

  async add(node: NewNode): Promise<NodeRecord> {
    const problems = checkNewNode(node);
    if (problems.length) throw new InvalidInputError(problems, describe(node));
    const id = node.id ?? randomUUID();
    const keys = uniqueKeys([keyOf.name(node.name), ...(node.keys ?? [])]);
    const definition = node.definition as JsonObject;
    const metadata = dropNulls(node.metadata ?? {});

    return this.transaction(async (m) => {
      if (node.id !== undefined) {
        const existing = await this.findRow(m, id);
        if (existing) return this.sameNodeOrConflict(m, existing, node);
      }
      if (node.parentId) {
        const parent = await this.findRow(m, node.parentId);
        if (!parent) throw new NotFoundError('parent node', node.parentId);
      }
      await this.assertKeysFree(m, keys, id);
      const row: NodeRow = {
        id,
        type: node.type,
        name: node.name,
        definition: JSON.stringify(definition),
        state: node.state,
        metadata: JSON.stringify(metadata),
        parentId: node.parentId ?? null,
        version: 1,
        createdAt: isoNow(),
        updatedAt: '',
        ...derive(node.type, definition, metadata),
      };
      row.updatedAt = row.createdAt;
      try {
        await m.createQueryBuilder().insert().into(NodeEntity).values(row).updateEntity(false).execute();
      } catch (err) {
        if (isUniqueViolation(err)) {
          // A competitor committed between our checks and our insert: the same id, or the name.
          const existing = node.id !== undefined ? await this.findRow(m, id) : undefined;
          if (existing) return this.sameNodeOrConflict(m, existing, node);
          throw await this.conflictFor(m, keys, id);
        }
        if (isForeignKeyViolation(err) && node.parentId) {
          if (!(await this.findRow(m, node.parentId))) throw new NotFoundError('parent node', node.parentId);
          throw new RetryTransaction('parent changed during add');
        }
        throw err;
      }
      try {
        await this.insertKeys(m, id, keys);
      } catch (err) {
        // Our own node row is in this transaction: only the keys can be the conflict now.
        if (isUniqueViolation(err)) throw await this.conflictFor(m, keys, id);
        throw err;
      }
      await this.insertTags(m, id, node.tags ?? {});
      // What was just written, without reading it back.
      return toRecord(row, keys, node.tags ?? {});
    });
  }

  async get(id: string): Promise<NodeRecord> {
    const node = await this.find(id);
    if (!node) throw new NotFoundError('node', id);
    return node;
  }

  async find(id: string): Promise<NodeRecord | undefined> {
    if (typeof id !== 'string') return undefined;
    return this.read(async (m) => {
      const row = await this.findRow(m, id);
      return row ? (await this.hydrate(m, [row]))[0] : undefined;
    });
  }

  async getByName(name: string): Promise<NodeRecord> {
    const node = await this.findByName(name);
    if (!node) throw new NotFoundError('node named', name);
    return node;
  }

  async findByName(name: string): Promise<NodeRecord | undefined> {
    return this.read(async (m) => {
      const row = await m.createQueryBuilder(NodeEntity, 'n').where('n.name = :name', { name }).getOne();
      return row ? (await this.hydrate(m, [row]))[0] : undefined;
    });
  }

  async getByKey(key: string): Promise<NodeRecord> {
    const node = await this.findByKey(key);
    if (!node) throw new NotFoundError('node with key', key);
    return node;
  }

  async findByKey(key: string): Promise<NodeRecord | undefined> {
    return this.read(async (m) => {
      const row = await m
        .createQueryBuilder(NodeEntity, 'n')
        .innerJoin(NodeKeyEntity.options.name, 'k', 'k.nodeId = n.id')
        .where('k.key = :key', { key })
        .getOne();
      return row ? (await this.hydrate(m, [row]))[0] : undefined;
    });
  }

  async list(query: NodeQuery = {}): Promise<NodeRecord[]> {
    return this.read(async (m) => {
      const qb = this.queryNodes(m, query).orderBy('n.name', 'ASC');
      if (query.limit !== undefined) qb.limit(query.limit);
      if (query.offset !== undefined) {
        // MySQL accepts OFFSET only after LIMIT.
        if (query.limit === undefined) qb.limit(Number.MAX_SAFE_INTEGER);
        qb.offset(query.offset);
      }
      return this.hydrate(m, await qb.getMany());
    });
  }

  async count(query: NodeQuery = {}): Promise<number> {
    return this.read((m) => this.queryNodes(m, query).getCount());
  }

  async children(parentId: string, type?: NodeType): Promise<NodeRecord[]> {
    return this.list(type ? { parentId, type } : { parentId });
  }

  /** Every unique key starting with `prefix`, sorted (for example every `ip:` key, to allocate addresses). */
  async listKeys(prefix: string): Promise<string[]> {
    return this.read(async (m) => {
      const qb = m.createQueryBuilder(NodeKeyEntity, 'k').select('k.key', 'key').where('k.key >= :prefix', { prefix });
      if (prefix.length) qb.andWhere('k.key < :end', { end: successor(prefix) });
      const rows: { key: string }[] = await qb.orderBy('k.key', 'ASC').getRawMany();
      return rows.map((r) => r.key);
    });
  }

  async update(id: string, expectedVersion: number | undefined, patch: NodePatch): Promise<NodeRecord> {
    const problems = checkPatch(patch);
    if (problems.length) throw new InvalidInputError(problems, `patch of node ${id}`);
    return this.transaction(async (m) => {
      const row = await this.lockedRow(m, id);
      checkVersion(row, expectedVersion);
      const definition = patch.definition !== undefined ? (patch.definition as JsonObject) : parse(row.definition);
      const metadata = patch.metadata !== undefined ? mergeMetadata(parse(row.metadata), patch.metadata) : parse(row.metadata);
      const serializedMetadata = JSON.stringify(metadata);
      const sizeProblems: FieldProblem[] = [];
      checkMetadataSize(serializedMetadata, 'metadata', sizeProblems);
      if (sizeProblems.length) throw new InvalidInputError(sizeProblems, `patch of ${row.name}`);
      await this.writeRow(m, row, {
        definition: JSON.stringify(definition),
        metadata: serializedMetadata,
        ...(patch.state !== undefined ? { state: patch.state } : {}),
        ...derive(row.type, definition, metadata),
      });
      if (patch.tags !== undefined) {
        await m.delete(NodeTagEntity, { nodeId: id });
        await this.insertTags(m, id, patch.tags);
      }
      return this.loadRecord(m, id);
    });
  }

  async rename(id: string, expectedVersion: number | undefined, newName: string): Promise<NodeRecord> {
    const problems: FieldProblem[] = [];
    checkName(newName, 'name', problems);
    if (problems.length) throw new InvalidInputError(problems, `rename of node ${id}`);
    const newKey = keyOf.name(newName);
    return this.transaction(async (m) => {
      const row = await this.lockedRow(m, id);
      checkVersion(row, expectedVersion);
      if (row.name === newName) return this.loadRecord(m, id);
      await this.assertKeysFree(m, [newKey], id);
      try {
        await this.writeRow(m, row, { name: newName });
        const moved = await m.update(NodeKeyEntity, { key: keyOf.name(row.name), nodeId: id }, { key: newKey });
        if (!moved.affected) await this.insertKeys(m, id, [newKey]);
      } catch (err) {
        if (isUniqueViolation(err)) throw await this.conflictFor(m, [newKey], id);
        throw err;
      }
      return this.loadRecord(m, id);
    });
  }

  async move(id: string, expectedVersion: number | undefined, parentId: string | null): Promise<NodeRecord> {
    if (parentId !== null) {
      const problems: FieldProblem[] = [];
      checkId(parentId, 'parentId', problems);
      if (problems.length) throw new InvalidInputError(problems, `move of node ${id}`);
    }
    return this.transaction(async (m) => {
      const row = await this.lockedRow(m, id);
      checkVersion(row, expectedVersion);
      if (row.parentId === parentId) return this.loadRecord(m, id);
      if (parentId !== null) await this.assertNoCycle(m, id, row.name, parentId);
      try {
        await this.writeRow(m, row, { parentId });
      } catch (err) {
        if (isForeignKeyViolation(err)) throw new RetryTransaction('parent vanished during move');
        throw err;
      }
      return this.loadRecord(m, id);
    });
  }

  async addKeys(id: string, keys: readonly string[]): Promise<NodeRecord> {
    const problems: FieldProblem[] = [];
    checkKeys(keys, 'keys', problems);
    if (problems.length) throw new InvalidInputError(problems, `keys of node ${id}`);
    const wanted = uniqueKeys(keys);
    return this.transaction(async (m) => {
      await this.lockedRow(m, id);
      const owners = await this.keyOwners(m, wanted);
      const missing = wanted.filter((k) => !owners.has(k));
      await this.assertKeysFree(m, wanted, id, owners);
      if (missing.length) {
        try {
          await this.insertKeys(m, id, missing);
        } catch (err) {
          if (isUniqueViolation(err)) throw await this.conflictFor(m, missing, id);
          throw err;
        }
        // Keys have their own uniqueness guard, so they touch updated_at but not the version.
        await m.update(NodeEntity, { id }, { updatedAt: isoNow() });
      }
      return this.loadRecord(m, id);
    });
  }

  async removeKeys(id: string, keys: readonly string[]): Promise<NodeRecord> {
    const problems: FieldProblem[] = [];
    checkKeys(keys, 'keys', problems);
    if (problems.length) throw new InvalidInputError(problems, `keys of node ${id}`);
    return this.transaction(async (m) => {
      await this.lockedRow(m, id);
      const wanted = uniqueKeys(keys);
      if (wanted.length) {
        const removed = await m.delete(NodeKeyEntity, { nodeId: id, key: In(wanted) });
        if (removed.affected) await m.update(NodeEntity, { id }, { updatedAt: isoNow() });
      }
      return this.loadRecord(m, id);
    });
  }

  async remove(id: string, options: { cascade?: boolean } = {}): Promise<void> {
    await this.transaction(async (m) => {
      await this.lockedRow(m, id);
      const childCount = await m.count(NodeEntity, { where: { parentId: id } });
      if (childCount > 0 && !options.cascade) throw new HasChildrenError(id, childCount);
      // Collect the subtree level by level, then delete deepest first so foreign keys hold.
      const levels: string[][] = [[id]];
      for (let frontier = [id]; frontier.length; ) {
        const next: string[] = [];
        for (const ids of chunks(frontier)) {
          const qb = m.createQueryBuilder(NodeEntity, 'n').select('n.id', 'id').where('n.parentId IN (:...ids)', { ids });
          if (this.dialect === 'mysql') qb.setLock('pessimistic_write');
          const rows: { id: string }[] = await qb.getRawMany();
          next.push(...rows.map((r) => r.id));
        }
        if (next.length) levels.push(next);
        frontier = next;
      }
      try {
        for (const level of levels.reverse()) {
          for (const ids of chunks(level)) {
            await m.delete(NodeKeyEntity, { nodeId: In(ids) });
            await m.delete(NodeTagEntity, { nodeId: In(ids) });
            await m.delete(NodeEntity, { id: In(ids) });
          }
        }
      } catch (err) {
        if (isForeignKeyViolation(err)) throw new RetryTransaction('a child was added during removal');
        throw err;
      }
    });
  }

  // ---------------------------------------------------------------- capacity

  async claim(request: ClaimRequest): Promise<NodeRecord> {
    const problems = checkClaim(request);
    if (problems.length) throw new InvalidInputError(problems, 'claim');
    const claimKey = keyOf.claim(request.commandId);
    const name = `placeholder-${request.commandId}`;
    const keys = uniqueKeys([keyOf.name(name), claimKey]);

    return this.transaction(async (m) => {
      const existing = await this.keyOwner(m, claimKey);
      if (existing) return this.loadRecord(m, existing);
      const host = await this.lockHost(m, request.hostId);
      if (host.state !== 'up') throw new NoCapacityError(request.containerName, { [host.state]: 1 }, host.id);
      const now = new Date();
      const short = shortResource(allowanceOf(host), await this.usageIn(m, host.id, now.toISOString()), request.resources);
      if (short) throw new NoCapacityError(request.containerName, { [`full on ${short}`]: 1 }, host.id);

      const definition: PlaceholderDefinition = {
        resources: { cpus: request.resources.cpus, memoryMiB: request.resources.memoryMiB, diskGiB: request.resources.diskGiB },
        commandId: request.commandId,
        ...(request.containerId !== undefined ? { containerId: request.containerId } : {}),
        containerName: request.containerName,
        expiresAt: new Date(now.getTime() + request.ttlSeconds * 1000).toISOString(),
        ...(request.groups?.length ? { groups: [...request.groups] } : {}),
      };
      const id = randomUUID();
      const row: NodeRow = {
        id,
        type: 'placeholder',
        name,
        definition: JSON.stringify(definition),
        state: PLACEHOLDER_STATE,
        metadata: JSON.stringify(dropNulls(request.metadata ?? {})),
        parentId: host.id,
        version: 1,
        createdAt: now.toISOString(),
        updatedAt: now.toISOString(),
        ...derive('placeholder', definition as unknown as JsonObject, dropNulls(request.metadata ?? {})),
      };
      try {
        await m.createQueryBuilder().insert().into(NodeEntity).values(row).updateEntity(false).execute();
        await this.insertKeys(m, id, keys);
      } catch (err) {
        if (isUniqueViolation(err)) {
          // The same command claimed concurrently (on another host): start again, without our
          // half-written placeholder, and the first step returns that claim.
          if (await this.keyOwner(m, claimKey)) throw new RetryTransaction(`command ${request.commandId} claimed concurrently`);
          throw await this.conflictFor(m, keys, id);
        }
        throw err;
      }
      return toRecord(row, keys, {});
    });
  }

  async extendClaim(commandId: string, ttlSeconds: number): Promise<boolean> {
    if (!(ttlSeconds > 0)) throw new InvalidInputError([{ field: 'ttlSeconds', problem: 'must be > 0' }], 'claim extension');
    return this.transaction(async (m) => {
      const id = await this.keyOwner(m, keyOf.claim(commandId));
      if (!id) return false;
      const row = await this.lockedRow(m, id);
      const definition = parse(row.definition);
      const wanted = new Date(Date.now() + ttlSeconds * 1000).toISOString();
      const current = typeof definition.expiresAt === 'string' ? definition.expiresAt : '';
      const next = { ...definition, expiresAt: wanted > current ? wanted : current };
      await this.writeRow(m, row, { definition: JSON.stringify(next), ...derive(row.type, next, parse(row.metadata)) });
      return true;
    });
  }

  async release(commandId: string): Promise<boolean> {
    return this.transaction(async (m) => {
      const id = await this.keyOwner(m, keyOf.claim(commandId));
      if (!id) return false;
      await this.lockedRow(m, id);
      await this.deleteNodes(m, [id]);
      return true;
    });
  }

  async commitClaim(commandId: string, containerId: string, patch: Pick<NodePatch, 'state' | 'metadata'> = {}): Promise<NodeRecord> {
    return this.transaction(async (m) => {
      const placeholderId = await this.keyOwner(m, keyOf.claim(commandId));
      if (!placeholderId) {
        // Already committed (or released): a repeated call changes nothing.
        const container = await this.findRow(m, containerId);
        if (!container) throw new NotFoundError('container', containerId);
        return this.loadRecord(m, containerId);
      }
      const placeholder = await this.lockedRow(m, placeholderId);
      if (!placeholder.parentId) throw new RetryTransaction('claim without a host');
      // Lock order host → container, as in claim and updateDefinitionWithinCapacity.
      await this.lockHost(m, placeholder.parentId);
      const container = await this.lockedRow(m, containerId, 'container');
      if (container.type !== 'container')
        throw new InvalidInputError([{ field: 'containerId', problem: `names ${withArticle(container.type)}, not a container` }], 'claim commit');
      const changes: Partial<NodeRow> = {};
      if (container.parentId !== placeholder.parentId) changes.parentId = placeholder.parentId;
      if (patch.state !== undefined && patch.state !== container.state) changes.state = patch.state;
      if (patch.metadata !== undefined) {
        const metadata = mergeMetadata(parse(container.metadata), patch.metadata);
        Object.assign(changes, { metadata: JSON.stringify(metadata) }, derive(container.type, parse(container.definition), metadata));
      }
      if (Object.keys(changes).length) await this.writeRow(m, container, changes);
      await this.deleteNodes(m, [placeholderId]);
      return this.loadRecord(m, containerId);
    });
  }

  async updateDefinitionWithinCapacity(id: string, expectedVersion: number | undefined, definition: object): Promise<NodeRecord> {
    if (!isPlainObject(definition)) throw new InvalidInputError([{ field: 'definition', problem: 'must be an object' }], `node ${id}`);
    return this.transaction(async (m) => {
      const peek = await this.findRow(m, id);
      if (!peek) throw new NotFoundError('node', id);
      const parent = peek.parentId ? await this.lockedRow(m, peek.parentId, 'parent node') : undefined;
      const row = await this.lockedRow(m, id);
      if (row.parentId !== peek.parentId) throw new RetryTransaction('node moved while its host was locked');
      checkVersion(row, expectedVersion);
      const next = derive(row.type, definition, parse(row.metadata));
      if (parent?.type === 'hypervisor') {
        const before = derive(row.type, parse(row.definition), {});
        const used = await this.usageIn(m, parent.id, isoNow());
        const counted = row.type === 'container' || (row.type === 'placeholder' && (row.expiresAt ?? '') > isoNow());
        const usedByOthers = counted ? subtract(used, resourcesOfRow(before)) : used;
        const wanted = resourcesOfRow(next);
        // Only a growing resource is checked: shrinking is always allowed, even on an overfull host.
        const growing: Resources = {
          cpus: wanted.cpus > resourcesOfRow(before).cpus ? wanted.cpus : 0,
          memoryMiB: wanted.memoryMiB > resourcesOfRow(before).memoryMiB ? wanted.memoryMiB : 0,
          diskGiB: wanted.diskGiB > resourcesOfRow(before).diskGiB ? wanted.diskGiB : 0,
        };
        const short = shortResource(allowanceOf(parent), usedByOthers, growing);
        if (short) throw new NoCapacityError(row.name, { [`full on ${short}`]: 1 }, parent.id);
      }
      await this.writeRow(m, row, { definition: JSON.stringify(definition), ...next });
      return this.loadRecord(m, id);
    });
  }

  async usage(hostId: string): Promise<Resources> {
    return this.read((m) => this.usageIn(m, hostId, isoNow()));
  }

  async hostSnapshot(): Promise<HostSnapshot[]> {
    return this.read(async (m) => {
      const now = isoNow();
      const hosts = await m.createQueryBuilder(NodeEntity, 'n').where('n.type = :type', { type: 'hypervisor' }).orderBy('n.name', 'ASC').getMany();
      const usageRows: { parentId: string; cpus: unknown; memoryMiB: unknown; diskGiB: unknown }[] = await m.query(
        `SELECT \`parent_id\` AS parentId, SUM(\`res_cpus\`) AS cpus, SUM(\`res_memory_mib\`) AS memoryMiB, SUM(\`res_disk_gib\`) AS diskGiB
           FROM \`nodes\`
          WHERE \`parent_id\` IS NOT NULL AND ${COUNTED}
          GROUP BY \`parent_id\``,
        [now],
      );
      const groupRows: { parentId: string; groupNames: string }[] = await m.query(
        `SELECT \`parent_id\` AS parentId, \`group_names\` AS groupNames
           FROM \`nodes\`
          WHERE \`parent_id\` IS NOT NULL AND \`group_names\` IS NOT NULL AND ${COUNTED}`,
        [now],
      );
      const used = new Map<string, Resources>();
      for (const r of usageRows) used.set(r.parentId, { cpus: num(r.cpus), memoryMiB: num(r.memoryMiB), diskGiB: num(r.diskGiB) });
      const groups = new Map<string, Record<string, number>>();
      for (const r of groupRows) {
        const counts = groups.get(r.parentId) ?? {};
        for (const g of parseGroups(r.groupNames)) counts[g] = (counts[g] ?? 0) + 1;
        groups.set(r.parentId, counts);
      }
      return hosts.map((h): HostSnapshot => {
        const def = parse(h.definition) as Partial<HypervisorDefinition>;
        const load = parse(h.metadata)[META.load];
        return {
          id: h.id,
          name: h.name,
          state: h.state,
          driver: typeof def.driver === 'string' ? def.driver : '',
          labels: isPlainObject(def.labels) ? (def.labels as Record<string, string>) : {},
          allowance: allowanceOf(h),
          used: used.get(h.id) ?? ZERO,
          load: typeof load === 'number' && Number.isFinite(load) ? load : 0,
          groups: groups.get(h.id) ?? {},
        };
      });
    });
  }

  async expiredPlaceholders(now: Date = new Date()): Promise<NodeRecord[]> {
    return this.read(async (m) => {
      const rows = await m
        .createQueryBuilder(NodeEntity, 'n')
        .where('n.type = :type', { type: 'placeholder' })
        .andWhere('n.expiresAt <= :now', { now: now.toISOString() })
        .orderBy('n.expiresAt', 'ASC')
        .getMany();
      return this.hydrate(m, rows);
    });
  }

  // ---------------------------------------------------------------- audit log

  async recordEvent(event: NewNodeEvent): Promise<void> {
    const problems: FieldProblem[] = [];
    if (typeof event.nodeId !== 'string' || !event.nodeId) problems.push({ field: 'nodeId', problem: 'must be a non-empty string' });
    if (typeof event.what !== 'string' || !event.what || event.what.length > 64)
      problems.push({ field: 'what', problem: 'must be 1 to 64 characters' });
    if (event.at !== undefined && Number.isNaN(Date.parse(event.at))) problems.push({ field: 'at', problem: 'must be an ISO 8601 time' });
    if (event.data !== undefined && !isPlainObject(event.data)) problems.push({ field: 'data', problem: 'must be an object' });
    if (problems.length) throw new InvalidInputError(problems, 'event');
    await this.transaction(async (m) => {
      await m
        .createQueryBuilder()
        .insert()
        .into(NodeEventEntity)
        .values({
          nodeId: event.nodeId,
          at: event.at ? new Date(event.at).toISOString() : isoNow(),
          what: event.what,
          why: event.why ?? '',
          actor: event.by ?? '',
          commandId: event.commandId ?? null,
          data: JSON.stringify(event.data ?? {}),
        })
        .updateEntity(false)
        .execute();
    });
  }

  async events(nodeId: string, limit = 100): Promise<NodeEvent[]> {
    return this.read(async (m) => {
      const rows: NodeEventRow[] = await m
        .createQueryBuilder(NodeEventEntity, 'e')
        .where('e.nodeId = :nodeId', { nodeId })
        .orderBy('e.id', 'DESC')
        .limit(limit)
        .getMany();
      return rows.map((r) => ({
        id: Number(r.id),
        nodeId: r.nodeId,
        at: r.at,
        what: r.what,
        why: r.why,
        by: r.actor,
        commandId: r.commandId,
        data: parse(r.data),
      }));
    });
  }

  // ---------------------------------------------------------------- housekeeping

  /** Rows per table: lets tests prove that a refused call wrote nothing. */
  async rowCounts(): Promise<Record<(typeof TABLES)[number], number>> {
    return this.read(async (m) => {
      const counts = {} as Record<(typeof TABLES)[number], number>;
      for (const table of TABLES) {
        const rows: { n: unknown }[] = await m.query(`SELECT COUNT(*) AS n FROM \`${table}\``);
        counts[table] = num(rows[0]?.n);
      }
      return counts;
    });
  }

  async close(): Promise<void> {
    if (this.dataSource.isInitialized) await this.sqliteLock.run(() => this.dataSource.destroy());
  }

  // ---------------------------------------------------------------- transactions

  /** Runs `work` in one transaction, again from the start on deadlocks and vanished competitors. */
  private async transaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await (this.dialect === 'sqlite' ? this.sqliteTransaction(work) : this.mysqlTransaction(work));
      } catch (err) {
        const retryable = err instanceof RetryTransaction || isTransient(err);
        if (!retryable) throw err;
        if (attempt >= MAX_ATTEMPTS) {
          throw new Error(`registry transaction gave up after ${attempt} attempts: ${(err as Error).message}`, { cause: err });
        }
        await sleep(Math.min(200, 5 * 2 ** attempt) * (0.5 + Math.random()));
      }
    }
  }

  private sqliteTransaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.sqliteLock.run(async () => {
      // TypeORM shares one query runner per SQLite connection. BEGIN IMMEDIATE takes the write
      // lock up front, so a read-then-write transaction never fails to upgrade under contention.
      const runner = this.dataSource.createQueryRunner();
      await runner.query('BEGIN IMMEDIATE');
      try {
        const result = await work(runner.manager);
        await runner.query('COMMIT');
        return result;
      } catch (err) {
        await runner.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  private async mysqlTransaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    const connection: object = await runner.connect();
    try {
      // READ COMMITTED, set once per pooled connection rather than once per transaction.
      if (!readCommitted.has(connection)) {
        await runner.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
        readCommitted.add(connection);
      }
      await runner.startTransaction();
      try {
        const result = await work(runner.manager);
        await runner.commitTransaction();
        return result;
      } catch (err) {
        if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
        throw err;
      }
    } finally {
      await runner.release();
    }
  }

  private read<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    if (this.dialect === 'sqlite') return this.sqliteLock.run(() => work(this.dataSource.manager));
    return work(this.dataSource.manager);
  }

  // ---------------------------------------------------------------- row helpers

  private findRow(m: EntityManager, id: string): Promise<NodeRow | null> {
    return m.createQueryBuilder(NodeEntity, 'n').where('n.id = :id', { id }).getOne();
  }

  /** Reads a row for writing: `SELECT ... FOR UPDATE` on MySQL (SQLite's transaction already excludes writers). */
  private async lockedRow(m: EntityManager, id: string, what = 'node'): Promise<NodeRow> {
    const qb = m.createQueryBuilder(NodeEntity, 'n').where('n.id = :id', { id });
    if (this.dialect === 'mysql') qb.setLock('pessimistic_write');
    const row = await qb.getOne();
    if (!row) throw new NotFoundError(what, id);
    return row;
  }

  private async lockHost(m: EntityManager, hostId: string): Promise<NodeRow> {
    const host = await this.lockedRow(m, hostId, 'hypervisor');
    if (host.type !== 'hypervisor')
      throw new InvalidInputError([{ field: 'hostId', problem: `names ${withArticle(host.type)}, not a hypervisor` }], 'claim');
    return host;
  }

  /** Writes changed columns, bumps the version and updated_at; guarded by the version read. */
  private async writeRow(m: EntityManager, row: NodeRow, changes: Partial<NodeRow>): Promise<void> {
    const result = await m.update(
      NodeEntity,
      { id: row.id, version: row.version },
      { ...changes, version: row.version + 1, updatedAt: isoNow() },
    );
    if (!result.affected) throw new RetryTransaction(`node ${row.id} changed under a lock`);
  }

  private async insertKeys(m: EntityManager, nodeId: string, keys: readonly string[]): Promise<void> {
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

  private async insertTags(m: EntityManager, nodeId: string, tags: Record<string, string>): Promise<void> {
    const rows = Object.entries(tags).map(([tagKey, tagValue]) => ({ nodeId, tagKey, tagValue }));
    for (const part of chunks(rows)) {
      await m.createQueryBuilder().insert().into(NodeTagEntity).values(part).updateEntity(false).execute();
    }
  }

  private async deleteNodes(m: EntityManager, ids: string[]): Promise<void> {
    await m.delete(NodeKeyEntity, { nodeId: In(ids) });
    await m.delete(NodeTagEntity, { nodeId: In(ids) });
    await m.delete(NodeEntity, { id: In(ids) });
  }

  private async keyOwner(m: EntityManager, key: string): Promise<string | undefined> {
    const row = await m.createQueryBuilder(NodeKeyEntity, 'k').where('k.key = :key', { key }).getOne();
    return row?.nodeId;
  }

  /** Owner id and name of each key that is taken. */
  private async keyOwners(m: EntityManager, keys: readonly string[]): Promise<Map<string, { id: string; name: string }>> {
    const owners = new Map<string, { id: string; name: string }>();
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
  private async assertKeysFree(
    m: EntityManager,
    keys: readonly string[],
    selfId: string,
    known?: Map<string, { id: string; name: string }>,
  ): Promise<void> {
    const owners = known ?? (await this.keyOwners(m, keys));
    for (const key of keys) {
      const owner = owners.get(key);
      if (owner && owner.id !== selfId) throw new KeyConflictError(key, owner.id, owner.name);
    }
  }

  /** After a unique violation: the conflict naming the key and its owner, or a retry when the owner is gone. */
  private async conflictFor(m: EntityManager, keys: readonly string[], selfId: string): Promise<Error> {
    const owners = await this.keyOwners(m, keys);
    for (const key of keys) {
      const owner = owners.get(key);
      if (owner && owner.id !== selfId) return new KeyConflictError(key, owner.id, owner.name);
    }
    return new RetryTransaction(`a competitor released ${keys.join(', ')}`);
  }

  /** An add repeated with the same id: the stored node when it is the same node, a conflict otherwise. */
  private async sameNodeOrConflict(m: EntityManager, existing: NodeRow, node: NewNode): Promise<NodeRecord> {
    if (existing.type === node.type && existing.name === node.name) return this.loadRecord(m, existing.id);
    throw new KeyConflictError(`id:${existing.id}`, existing.id, existing.name);
  }

  private async assertNoCycle(m: EntityManager, id: string, name: string, parentId: string): Promise<void> {
    const cycle = () =>
      new InvalidInputError([{ field: 'parentId', problem: `would make ${name} (${id}) its own ancestor` }], `move of ${name}`);
    let current: string | null = parentId;
    for (let depth = 0; current !== null && depth < MAX_DEPTH; depth++) {
      if (current === id) throw cycle();
      const qb = m.createQueryBuilder(NodeEntity, 'n').where('n.id = :id', { id: current });
      // Locking the chain serialises concurrent moves that could otherwise close a loop together.
      if (this.dialect === 'mysql') qb.setLock('pessimistic_write');
      const ancestor: NodeRow | null = await qb.getOne();
      if (!ancestor) {
        if (depth === 0) throw new NotFoundError('parent node', parentId);
        return;
      }
      current = ancestor.parentId;
    }
  }

  private async usageIn(m: EntityManager, hostId: string, nowIso: string): Promise<Resources> {
    const rows: { cpus: unknown; memoryMiB: unknown; diskGiB: unknown }[] = await m.query(
      `SELECT SUM(\`res_cpus\`) AS cpus, SUM(\`res_memory_mib\`) AS memoryMiB, SUM(\`res_disk_gib\`) AS diskGiB
         FROM \`nodes\`
        WHERE \`parent_id\` = ? AND ${COUNTED}`,
      [hostId, nowIso],
    );
    const r = rows[0];
    return { cpus: num(r?.cpus), memoryMiB: num(r?.memoryMiB), diskGiB: num(r?.diskGiB) };
  }

  private queryNodes(m: EntityManager, query: NodeQuery) {
    const qb = m.createQueryBuilder(NodeEntity, 'n');
    if (query.type !== undefined) qb.andWhere('n.type = :type', { type: query.type });
    if (query.parentId === null) qb.andWhere('n.parentId IS NULL');
    else if (query.parentId !== undefined) qb.andWhere('n.parentId = :parentId', { parentId: query.parentId });
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

  private async loadRecord(m: EntityManager, id: string): Promise<NodeRecord> {
    const row = await this.findRow(m, id);
    if (!row) throw new NotFoundError('node', id);
    return (await this.hydrate(m, [row]))[0]!;
  }

  /** Attaches keys and tags to rows, in two queries per chunk of rows. */
  private async hydrate(m: EntityManager, rows: NodeRow[]): Promise<NodeRecord[]> {
    if (!rows.length) return [];
    const keys = new Map<string, string[]>();
    const tags = new Map<string, Record<string, string>>();
    for (const ids of chunks(rows.map((r) => r.id))) {
      const keyRows = await m.createQueryBuilder(NodeKeyEntity, 'k').where('k.nodeId IN (:...ids)', { ids }).getMany();
      for (const k of keyRows) (keys.get(k.nodeId) ?? keys.set(k.nodeId, []).get(k.nodeId)!).push(k.key);
      const tagRows = await m.createQueryBuilder(NodeTagEntity, 't').where('t.nodeId IN (:...ids)', { ids }).getMany();
      for (const t of tagRows) (tags.get(t.nodeId) ?? tags.set(t.nodeId, {}).get(t.nodeId)!)[t.tagKey] = t.tagValue;
    }
    return rows.map((r) => toRecord(r, keys.get(r.id) ?? [], tags.get(r.id) ?? {}));
  }
}

function toRecord(r: NodeRow, keys: readonly string[], tags: Record<string, string>): NodeRecord {
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

/** Children that count against a host: containers, and placeholders that have not expired (parameter: now). */
const COUNTED = `(\`type\` = 'container' OR (\`type\` = 'placeholder' AND \`expires_at\` > ?))`;

function describe(node: NewNode): string {
  const type = typeof node?.type === 'string' ? node.type : 'node';
  return typeof node?.name === 'string' && node.name ? `${type} ${node.name}` : type;
}

function checkVersion(row: NodeRow, expected: number | undefined): void {
  if (expected !== undefined && row.version !== expected) throw new VersionConflictError(row.id, expected, row.version);
}

function checkClaim(request: ClaimRequest): FieldProblem[] {
  const out: FieldProblem[] = [];
  if (!isPlainObject(request)) return [{ field: 'claim', problem: 'must be an object' }];
  for (const field of ['hostId', 'commandId', 'containerName'] as const) {
    if (typeof request[field] !== 'string' || !request[field]) out.push({ field, problem: 'must be a non-empty string' });
  }
  if (request.containerId !== undefined) checkId(request.containerId, 'containerId', out);
  if (!isPlainObject(request.resources)) out.push({ field: 'resources', problem: 'must be an object' });
  else {
    for (const r of ['cpus', 'memoryMiB', 'diskGiB'] as const) {
      const v = request.resources[r];
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) out.push({ field: `resources.${r}`, problem: 'must be a number >= 0' });
    }
  }
  if (typeof request.ttlSeconds !== 'number' || !(request.ttlSeconds > 0)) out.push({ field: 'ttlSeconds', problem: 'must be > 0' });
  if (request.groups !== undefined && (!Array.isArray(request.groups) || request.groups.some((g) => typeof g !== 'string')))
    out.push({ field: 'groups', problem: 'must be an array of strings' });
  return out;
}

/** The columns the registry derives from a node's definition and metadata. */
function derive(type: string, definition: JsonObject, metadata: JsonObject): Derived {
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

function parseGroups(column: string): string[] {
  try {
    const v = JSON.parse(column);
    return Array.isArray(v) ? v.filter((g): g is string => typeof g === 'string') : [];
  } catch {
    return [];
  }
}

function resourcesOfRow(d: Derived): Resources {
  return { cpus: d.resCpus ?? 0, memoryMiB: d.resMemoryMiB ?? 0, diskGiB: d.resDiskGiB ?? 0 };
}

function subtract(a: Resources, b: Resources): Resources {
  return { cpus: a.cpus - b.cpus, memoryMiB: a.memoryMiB - b.memoryMiB, diskGiB: a.diskGiB - b.diskGiB };
}

function allowanceOf(host: NodeRow): Resources {
  const def = parse(host.definition) as Partial<HypervisorDefinition>;
  if (!isPlainObject(def.capacity)) return ZERO;
  const capacity = def.capacity as Partial<Resources>;
  const o = isPlainObject(def.overcommit) ? (def.overcommit as Partial<HypervisorDefinition['overcommit'] & object>) : {};
  return allowance({
    capacity: { cpus: num(capacity.cpus), memoryMiB: num(capacity.memoryMiB), diskGiB: num(capacity.diskGiB) },
    overcommit: { cpu: num(o.cpu, 1), memory: num(o.memory, 1), disk: num(o.disk, 1) },
  });
}

/** The first resource (cpu, memory, disk) a request would push over the allowance. */
function shortResource(allowed: Resources, used: Resources, request: Resources): string | undefined {
  for (const r of ['cpus', 'memoryMiB', 'diskGiB'] as const) {
    if (used[r] + request[r] > allowed[r] + EPSILON) return RESOURCE_WORDS[r];
  }
  return undefined;
}

function num(value: unknown, fallback = 0): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  return Number.isFinite(n) ? n : fallback;
}

function parse(text: string): JsonObject {
  const value = JSON.parse(text) as unknown;
  return isPlainObject(value) ? value : {};
}

function uniqueKeys(keys: readonly string[]): string[] {
  return [...new Set(keys)];
}

function sortedObject(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function* chunks<T>(items: readonly T[], size = CHUNK): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/** The smallest string greater than every string starting with `prefix`. */
function successor(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

function withArticle(word: string): string {
  return `${/^[aeiou]/.test(word) ? 'an' : 'a'} ${word}`;
}

function isoNow(): string {
  return new Date().toISOString();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
