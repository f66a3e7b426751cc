// The registry on a relational database through TypeORM: SQLite (better-sqlite3) embedded,
// MySQL/MariaDB (mysql2) in production. Consistency comes from the database itself: unique keys
// are primary-key rows, every write is one transaction, nodes carry an optimistic version, and
// capacity claims take a row lock on the host.
import type { DataSource } from 'typeorm';
import { NotFoundError } from '../domain/errors';
import type { NodeRecord, NodeType, Resources } from '../domain/types';
import * as claims from './claims';
import { ClaimQueue, type ClaimBatchCounts } from './claim-batch';
import { num } from './columns';
import { TABLES } from './entities';
import * as audit from './events';
import * as metadataBatch from './metadata-batch';
import type { MetadataMerge } from './metadata-batch';
import * as reads from './node-reads';
import * as writes from './node-writes';
import { Transactions, type Dialect } from './transactions';
import type { ClaimRequest, HostSampleOptions, HostSnapshot, NewNode, NewNodeEvent, NodeEvent, NodePatch, NodeQuery, HostRange, PlacedNode, Registry, SamplePoint, SampleQuery } from './types';
import * as usage from './usage';
import * as hostSamples from './samples';

export type { Dialect } from './transactions';

export class SqlRegistry implements Registry {
  private readonly db: Transactions;
  private readonly claimQueue: ClaimQueue;
  private readonly hostReads: usage.CoalescedHostReads;

  constructor(
    readonly dataSource: DataSource,
    readonly dialect: Dialect,
  ) {
    this.db = new Transactions(dataSource, dialect);
    this.claimQueue = new ClaimQueue(this.db);
    this.hostReads = new usage.CoalescedHostReads(this.db);
  }

  // ---------------------------------------------------------------- nodes

  add(node: NewNode): Promise<NodeRecord> {
    return writes.addNode(this.db, node);
  }

  async get(id: string): Promise<NodeRecord> {
    return (await this.find(id)) ?? notFound('node', id);
  }

  find(id: string): Promise<NodeRecord | undefined> {
    return reads.findNode(this.db, id);
  }

  async getByName(name: string): Promise<NodeRecord> {
    return (await this.findByName(name)) ?? notFound('node named', name);
  }

  findByName(name: string): Promise<NodeRecord | undefined> {
    return reads.findNodeByName(this.db, name);
  }

  async getByKey(key: string): Promise<NodeRecord> {
    return (await this.findByKey(key)) ?? notFound('node with key', key);
  }

  findByKey(key: string): Promise<NodeRecord | undefined> {
    return reads.findNodeByKey(this.db, key);
  }

  list(query: NodeQuery = {}): Promise<NodeRecord[]> {
    return reads.listNodes(this.db, query);
  }

  count(query: NodeQuery = {}): Promise<number> {
    return reads.countNodes(this.db, query);
  }

  children(parentId: string, type?: NodeType): Promise<NodeRecord[]> {
    return this.list(type ? { parentId, type } : { parentId });
  }

  placedOn(hostIds: readonly string[]): Promise<PlacedNode[]> {
    return reads.placedOn(this.db, hostIds);
  }

  findManyByName(names: readonly string[]): Promise<NodeRecord[]> {
    return reads.findNodesByName(this.db, names);
  }

  hypervisorIds(): Promise<Array<{ id: string; agent: boolean }>> {
    return reads.hypervisorIds(this.db);
  }

  hypervisorsInRange(range: HostRange): Promise<NodeRecord[]> {
    return reads.hypervisorsInRange(this.db, range);
  }

  /** Every unique key starting with `prefix`, sorted (for example every `ip:` key, to allocate addresses). */
  listKeys(prefix: string): Promise<string[]> {
    return reads.listKeys(this.db, prefix);
  }

  update(id: string, expectedVersion: number | undefined, patch: NodePatch): Promise<NodeRecord> {
    return writes.updateNode(this.db, id, expectedVersion, patch);
  }

  /** Merges metadata into many nodes in one transaction (nodes that are gone are skipped); returns the nodes written. */
  mergeMetadataMany(merges: readonly MetadataMerge[]): Promise<number> {
    return metadataBatch.mergeMetadataMany(this.db, merges);
  }

  rename(id: string, expectedVersion: number | undefined, newName: string): Promise<NodeRecord> {
    return writes.renameNode(this.db, id, expectedVersion, newName);
  }

  move(id: string, expectedVersion: number | undefined, parentId: string | null): Promise<NodeRecord> {
    return writes.moveNode(this.db, id, expectedVersion, parentId);
  }

  addKeys(id: string, keys: readonly string[]): Promise<NodeRecord> {
    return writes.addKeys(this.db, id, keys);
  }

  removeKeys(id: string, keys: readonly string[]): Promise<NodeRecord> {
    return writes.removeKeys(this.db, id, keys);
  }

  remove(id: string, options: { cascade?: boolean } = {}): Promise<void> {
    return writes.removeNode(this.db, id, options);
  }

  // ---------------------------------------------------------------- capacity

  /** Concurrent claims of this process share transactions (see claim-batch.ts); each gets its own outcome. */
  claim(request: ClaimRequest): Promise<NodeRecord> {
    return this.claimQueue.claim(request);
  }

  /** Several claims in one transaction, all or nothing (an environment's members placed together). */
  claimAll(requests: readonly ClaimRequest[]): Promise<NodeRecord[]> {
    return claims.claimAll(this.db, requests);
  }

  /** How the claims so far were carried: transactions, claims, fallbacks to one claim each. */
  get claimBatches(): ClaimBatchCounts {
    return this.claimQueue.counts;
  }

  /** Reads of some hosts so far: snapshots read, and the calls they answered. */
  get hostReadBatches(): { readonly reads: number; readonly asked: number } {
    return this.hostReads.counts;
  }

  extendClaim(commandId: string, ttlSeconds: number): Promise<boolean> {
    return claims.extendClaim(this.db, commandId, ttlSeconds);
  }

  release(commandId: string): Promise<boolean> {
    return claims.release(this.db, commandId);
  }

  commitClaim(commandId: string, containerId: string, patch: Pick<NodePatch, 'state' | 'metadata'> = {}): Promise<NodeRecord> {
    return claims.commitClaim(this.db, commandId, containerId, patch);
  }

  updateDefinitionWithinCapacity(id: string, expectedVersion: number | undefined, definition: object): Promise<NodeRecord> {
    return claims.updateDefinitionWithinCapacity(this.db, id, expectedVersion, definition);
  }

  usage(hostId: string): Promise<Resources> {
    return usage.usage(this.db, hostId);
  }

  /** Reads of some hosts asked for at the same moment are made as one (see CoalescedHostReads). */
  hostSnapshot(hostIds?: readonly string[]): Promise<HostSnapshot[]> {
    return hostIds ? this.hostReads.read(hostIds) : usage.hostSnapshot(this.db);
  }

  expiredPlaceholders(now: Date = new Date()): Promise<NodeRecord[]> {
    return usage.expiredPlaceholders(this.db, now);
  }

  // ---------------------------------------------------------------- audit log

  recordEvent(event: NewNodeEvent): Promise<void> {
    return audit.recordEvent(this.db, event);
  }

  events(nodeId: string, limit = 100): Promise<NodeEvent[]> {
    return audit.events(this.db, nodeId, limit);
  }

  // ---------------------------------------------------------------- host samples

  recordHostSample(hostId: string, options: HostSampleOptions = {}): Promise<boolean> {
    return hostSamples.recordHostSample(this.db, hostId, options);
  }

  samples(query: SampleQuery): Promise<SamplePoint[]> {
    return hostSamples.samples(this.db, query);
  }

  // ---------------------------------------------------------------- housekeeping

  /** Rows per table: lets tests prove that a refused call wrote nothing. */
  rowCounts(): Promise<Record<(typeof TABLES)[number], number>> {
    return this.db.read(async (m) => {
      const counts = {} as Record<(typeof TABLES)[number], number>;
      for (const table of TABLES) {
        const rows: { n: unknown }[] = await m.query(`SELECT COUNT(*) AS n FROM \`${table}\``);
        counts[table] = num(rows[0]?.n);
      }
      return counts;
    });
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

function notFound(what: string, id: string): never {
  throw new NotFoundError(what, id);
}
