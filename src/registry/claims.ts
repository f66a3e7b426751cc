// Capacity claims: a placeholder child of a host holds `claim:<commandId>` and counts against the
// host until it is committed, released or expires. Every capacity decision is re-checked here
// under the host's row lock, with the same rule the allocator filters hosts by. The registry's
// claim() carries claims made at the same moment in one transaction (claim-batch.ts); claim() here
// is the one-claim transaction it falls back to.
import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { RESOURCE_WORDS, shortResource } from '../domain/capacity';
import { InvalidInputError, NoCapacityError, NotFoundError, type FieldProblem } from '../domain/errors';
import { PLACEHOLDER_STATE, keyOf, type JsonObject, type NodeRecord, type PlaceholderDefinition, type Resources } from '../domain/types';
import { allowanceOf, derive, parse, resourcesOfRow, toRecord } from './columns';
import { isUniqueViolation, RetryTransaction } from './db-errors';
import type { NodeRow } from './entities';
import {
  checkVersion,
  conflictFor,
  deleteNodes,
  findRow,
  insertKeys,
  insertNode,
  hydrate,
  keyOwner,
  loadRecord,
  lockedKeyOwner,
  lockedRow,
  lockHost,
  uniqueKeys,
  withArticle,
  writeRow,
} from './rows';
import type { Transactions } from './transactions';
import type { ClaimRequest, NodePatch } from './types';
import { usageIn } from './usage';
import { checkId, dropNulls, isPlainObject, mergeMetadata } from './validation';

export async function claim(db: Transactions, request: ClaimRequest): Promise<NodeRecord> {
  const problems = checkClaim(request);
  if (problems.length) throw new InvalidInputError(problems, 'claim');
  const claimKey = keyOf.claim(request.commandId);
  const keys = placeholderKeys(request);

  return db.write(async (m) => {
    const existing = await keyOwner(m, claimKey);
    if (existing) return loadRecord(m, existing);
    const host = await lockHost(m, request.hostId);
    if (host.state !== 'up') throw new NoCapacityError(request.containerName, { [host.state]: 1 }, host.id, host.name);
    const now = new Date();
    assertRoom(host, await usageIn(m, host.id), request.resources, request.containerName);
    const row = placeholderRow(request, host.id, now);
    try {
      await insertNode(m, row);
      await insertKeys(m, row.id, keys);
    } catch (err) {
      if (isUniqueViolation(err)) {
        // The same command claimed concurrently (on another host): start again, without our
        // half-written placeholder, and the first step returns that claim.
        if (await keyOwner(m, claimKey)) throw new RetryTransaction(`command ${request.commandId} claimed concurrently`);
        throw await conflictFor(m, keys, row.id);
      }
      throw err;
    }
    return toRecord(row, keys, {});
  });
}

/**
 * Several claims in one transaction, all or nothing: an environment's members placed together. Hosts
 * are locked in id order (so two batches never wait on each other crosswise), each re-checked with
 * the claims of the batch already on it; a claim that does not fit refuses the whole batch, naming
 * that host. Claims of the batch already made (a retry) are returned as they are.
 */
export async function claimAll(db: Transactions, requests: readonly ClaimRequest[]): Promise<NodeRecord[]> {
  const problems = requests.flatMap((r, i) => checkClaim(r).map((p) => ({ field: `claims[${i}].${p.field}`, problem: p.problem })));
  if (new Set(requests.map((r) => r.commandId)).size !== requests.length) problems.push({ field: 'claims', problem: 'must have distinct command ids' });
  if (problems.length) throw new InvalidInputError(problems, 'claims');
  if (!requests.length) return [];
  return db.write(async (m) => {
    const existing = await Promise.all(requests.map((r) => keyOwner(m, keyOf.claim(r.commandId))));
    if (existing.every(Boolean)) return Promise.all(existing.map((id) => loadRecord(m, id!)));
    const hostIds = [...new Set(requests.map((r) => r.hostId))].sort();
    const hosts = new Map<string, NodeRow>();
    const used = new Map<string, Resources>();
    for (const id of hostIds) {
      const host = await lockHost(m, id);
      hosts.set(id, host);
      used.set(id, await usageIn(m, id));
    }
    const now = new Date();
    const out: NodeRecord[] = [];
    for (const [i, request] of requests.entries()) {
      if (existing[i]) {
        out.push(await loadRecord(m, existing[i]!));
        continue;
      }
      const host = hosts.get(request.hostId)!;
      if (host.state !== 'up') throw new NoCapacityError(request.containerName, { [host.state]: 1 }, host.id);
      const before = used.get(host.id)!;
      assertRoom(host, before, request.resources, request.containerName);
      used.set(host.id, add(before, request.resources));
      const row = placeholderRow(request, host.id, now);
      const keys = placeholderKeys(request);
      try {
        await insertNode(m, row);
        await insertKeys(m, row.id, keys);
      } catch (err) {
        if (isUniqueViolation(err)) throw await conflictFor(m, keys, row.id);
        throw err;
      }
      out.push(toRecord(row, keys, {}));
    }
    return out;
  });
}

export async function extendClaim(db: Transactions, commandId: string, ttlSeconds: number): Promise<boolean> {
  if (!(ttlSeconds > 0)) throw new InvalidInputError([{ field: 'ttlSeconds', problem: 'must be > 0' }], 'claim extension');
  return db.write(async (m) => {
    const id = await keyOwner(m, keyOf.claim(commandId));
    if (!id) return false;
    const row = await lockedRow(m, id);
    const definition = parse(row.definition);
    const wanted = new Date(Date.now() + ttlSeconds * 1000).toISOString();
    const current = typeof definition.expiresAt === 'string' ? definition.expiresAt : '';
    const next = { ...definition, expiresAt: wanted > current ? wanted : current };
    await writeRow(m, row, { definition: JSON.stringify(next), ...derive(row.type, next, parse(row.metadata)) });
    return true;
  });
}

export function release(db: Transactions, commandId: string): Promise<boolean> {
  return db.write(async (m) => {
    const id = await keyOwner(m, keyOf.claim(commandId));
    if (!id) return false;
    await lockedRow(m, id);
    await deleteNodes(m, [id]);
    return true;
  });
}

export function commitClaim(
  db: Transactions,
  commandId: string,
  containerId: string,
  patch: Pick<NodePatch, 'state' | 'metadata'>,
): Promise<NodeRecord> {
  return db.write(async (m) => {
    const placeholder = await lockedKeyOwner(m, keyOf.claim(commandId));
    if (!placeholder) {
      // Already committed (or released): a repeated call changes nothing.
      const container = await findRow(m, containerId);
      if (!container) throw new NotFoundError('container', containerId);
      return (await hydrate(m, [container]))[0]!;
    }
    if (!placeholder.parentId) throw new RetryTransaction('claim without a host');
    // Lock order host → container, as in claim and updateDefinitionWithinCapacity.
    await lockHost(m, placeholder.parentId);
    const container = await lockedRow(m, containerId, 'container');
    if (container.type !== 'container')
      throw new InvalidInputError([{ field: 'containerId', problem: `names ${withArticle(container.type)}, not a container` }], 'claim commit');
    const changes: Partial<NodeRow> = {};
    if (container.parentId !== placeholder.parentId) changes.parentId = placeholder.parentId;
    if (patch.state !== undefined && patch.state !== container.state) changes.state = patch.state;
    if (patch.metadata !== undefined) {
      const metadata = mergeMetadata(parse(container.metadata), patch.metadata);
      Object.assign(changes, { metadata: JSON.stringify(metadata) }, derive(container.type, parse(container.definition), metadata));
    }
    const written = Object.keys(changes).length ? await writeRow(m, container, changes) : container;
    await deleteNodes(m, [placeholder.id]);
    // The row as written, locked since it was read; its keys and tags are not changed here.
    return (await hydrate(m, [written]))[0]!;
  });
}

export async function updateDefinitionWithinCapacity(
  db: Transactions,
  id: string,
  expectedVersion: number | undefined,
  definition: object,
): Promise<NodeRecord> {
  if (!isPlainObject(definition)) throw new InvalidInputError([{ field: 'definition', problem: 'must be an object' }], `node ${id}`);
  return db.write(async (m) => {
    const peek = await findRow(m, id);
    if (!peek) throw new NotFoundError('node', id);
    const parent = peek.parentId ? await lockedRow(m, peek.parentId, 'parent node') : undefined;
    const row = await lockedRow(m, id);
    if (row.parentId !== peek.parentId) throw new RetryTransaction('node moved while its host was locked');
    checkVersion(row, expectedVersion);
    const next = derive(row.type, definition, parse(row.metadata));
    if (parent?.type === 'hypervisor') await assertRoomToGrow(m, parent, row, resourcesOfRow(next));
    await writeRow(m, row, { definition: JSON.stringify(definition), ...next });
    return loadRecord(m, id);
  });
}

/** Refuses a node's new size on its host; only a growing resource is checked, so shrinking is allowed even on an overfull host. */
async function assertRoomToGrow(m: EntityManager, host: NodeRow, row: NodeRow, wanted: Resources): Promise<void> {
  const before = resourcesOfRow(derive(row.type, parse(row.definition), {}));
  const used = await usageIn(m, host.id);
  const counted = row.type === 'container' || row.type === 'placeholder';
  const usedByOthers = counted ? subtract(used, before) : used;
  const growing: Resources = {
    cpus: wanted.cpus > before.cpus ? wanted.cpus : 0,
    memoryMiB: wanted.memoryMiB > before.memoryMiB ? wanted.memoryMiB : 0,
    diskGiB: wanted.diskGiB > before.diskGiB ? wanted.diskGiB : 0,
  };
  assertRoom(host, usedByOthers, growing, row.name);
}

/** Throws NoCapacityError naming the first resource `need` does not fit in on the host. */
function assertRoom(host: NodeRow, used: Resources, need: Resources, containerName: string): void {
  const refusal = roomRefusal(host, used, need, containerName);
  if (refusal) throw refusal;
}

/** The NoCapacityError naming the first resource `need` does not fit in on the host; undefined when it fits. */
export function roomRefusal(host: HostRow, used: Resources, need: Resources, containerName: string): NoCapacityError | undefined {
  const short = shortResource(allowanceOf(host), used, need);
  return short ? new NoCapacityError(containerName, { [`full on ${RESOURCE_WORDS[short]}`]: 1 }, host.id, host.name) : undefined;
}

/** What a claim reads of its host. */
export type HostRow = Pick<NodeRow, 'id' | 'type' | 'name' | 'definition' | 'state'>;

function placeholderName(request: ClaimRequest): string {
  return `placeholder-${request.commandId}`;
}

/** The unique keys of a claim's placeholder: its name and its command. */
export function placeholderKeys(request: ClaimRequest): string[] {
  return uniqueKeys([keyOf.name(placeholderName(request)), keyOf.claim(request.commandId)]);
}

export function placeholderRow(request: ClaimRequest, hostId: string, now: Date): NodeRow {
  const definition: PlaceholderDefinition = {
    resources: { cpus: request.resources.cpus, memoryMiB: request.resources.memoryMiB, diskGiB: request.resources.diskGiB },
    commandId: request.commandId,
    ...(request.containerId !== undefined ? { containerId: request.containerId } : {}),
    containerName: request.containerName,
    expiresAt: new Date(now.getTime() + request.ttlSeconds * 1000).toISOString(),
    ...(request.groups?.length ? { groups: [...request.groups] } : {}),
  };
  const metadata = dropNulls(request.metadata ?? {});
  return {
    id: randomUUID(),
    type: 'placeholder',
    name: placeholderName(request),
    definition: JSON.stringify(definition),
    state: PLACEHOLDER_STATE,
    metadata: JSON.stringify(metadata),
    parentId: hostId,
    version: 1,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    ...derive('placeholder', definition as unknown as JsonObject, metadata),
  };
}

export function add(a: Resources, b: Resources): Resources {
  return { cpus: a.cpus + b.cpus, memoryMiB: a.memoryMiB + b.memoryMiB, diskGiB: a.diskGiB + b.diskGiB };
}

function subtract(a: Resources, b: Resources): Resources {
  return { cpus: a.cpus - b.cpus, memoryMiB: a.memoryMiB - b.memoryMiB, diskGiB: a.diskGiB - b.diskGiB };
}

export function checkClaim(request: ClaimRequest): FieldProblem[] {
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
