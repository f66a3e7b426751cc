// What hosts hold: containers plus live placeholders, summed in the database, and the host
// snapshot the allocator places against.
import type { EntityManager } from 'typeorm';
import { META, ZERO, type HypervisorDefinition, type NodeRecord, type Resources } from '../domain/types';
import { allowanceOf, num, parse, parseGroups } from './columns';
import { NodeEntity } from './entities';
import { hydrate } from './rows';
import type { Transactions } from './transactions';
import type { HostSnapshot } from './types';
import { isPlainObject } from './validation';

/**
 * Children that count against a host: containers and placeholders. A placeholder past its time to
 * live still holds its capacity until it is released, committed or collected — the collector
 * removes it only once its command no longer runs — so a slow command never loses its room.
 */
const COUNTED = `(\`type\` = 'container' OR \`type\` = 'placeholder')`;

type SumRow = { cpus: unknown; memoryMiB: unknown; diskGiB: unknown };

/** Containers plus placeholders on a host. */
export async function usageIn(m: EntityManager, hostId: string): Promise<Resources> {
  const rows: SumRow[] = await m.query(
    `SELECT SUM(\`res_cpus\`) AS cpus, SUM(\`res_memory_mib\`) AS memoryMiB, SUM(\`res_disk_gib\`) AS diskGiB
       FROM \`nodes\`
      WHERE \`parent_id\` = ? AND ${COUNTED}`,
    [hostId],
  );
  return sums(rows[0]);
}

export function usage(db: Transactions, hostId: string): Promise<Resources> {
  return db.read((m) => usageIn(m, hostId));
}

/**
 * Every hypervisor (or those of `hostIds`) with its usage and group counts, in a fixed number of
 * queries.
 */
export function hostSnapshot(db: Transactions, hostIds?: readonly string[]): Promise<HostSnapshot[]> {
  if (hostIds && !hostIds.length) return Promise.resolve([]);
  return db.read(async (m) => {
    const [where, ids] = hostIds ? [` AND \`id\` IN (${hostIds.map(() => '?').join(', ')})`, [...hostIds]] : ['', []];
    const hosts: Array<{ id: string; name: string; state: string; definition: string; metadata: string }> = await m.query(
      `SELECT \`id\`, \`name\`, \`state\`, \`definition\`, \`metadata\` FROM \`nodes\` WHERE \`type\` = 'hypervisor'${where} ORDER BY \`name\``,
      ids,
    );
    const used = await usageByHost(m, hostIds);
    const groups = await groupsByHost(m, hostIds);
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

interface WaitingRead {
  readonly ids: readonly string[];
  resolve(hosts: HostSnapshot[]): void;
  reject(err: unknown): void;
}

/**
 * hostSnapshot(ids) for many callers at once: reads asked for while one is in flight wait, and
 * the next read takes the union of their hosts in one snapshot, each caller getting its own
 * hosts back in the snapshot's order. Placements running side by side in a worker each read
 * their best candidates before claiming; this makes those reads one query set, not one each.
 */
export class CoalescedHostReads {
  private readonly waiting: WaitingRead[] = [];
  private busy = false;
  private reads = 0;
  private asked = 0;

  constructor(private readonly db: Transactions) {}

  /** Snapshots read, and calls they answered. */
  get counts(): { readonly reads: number; readonly asked: number } {
    return { reads: this.reads, asked: this.asked };
  }

  read(hostIds: readonly string[]): Promise<HostSnapshot[]> {
    if (!hostIds.length) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.waiting.push({ ids: hostIds, resolve, reject });
      this.next();
    });
  }

  /** Reads from a fresh turn of the event loop, so that the callers resumed by one event share it. */
  private next(): void {
    if (this.busy || !this.waiting.length) return;
    this.busy = true;
    setImmediate(() => this.readWaiting());
  }

  private readWaiting(): void {
    const batch = this.waiting.splice(0);
    this.reads++;
    this.asked += batch.length;
    const union = [...new Set(batch.flatMap((w) => w.ids))];
    hostSnapshot(this.db, union)
      .then(
        (hosts) => {
          for (const w of batch) {
            const wanted = new Set(w.ids);
            w.resolve(hosts.filter((h) => wanted.has(h.id)));
          }
        },
        (err: unknown) => {
          for (const w of batch) w.reject(err);
        },
      )
      .finally(() => {
        this.busy = false;
        this.next();
      });
  }
}

/** `parent_id IS NOT NULL`, or `parent_id IN (?, ...)` for some hosts, and its parameters. */
function parentsOf(hostIds: readonly string[] | undefined): [string, string[]] {
  return hostIds ? [`\`parent_id\` IN (${hostIds.map(() => '?').join(', ')})`, [...hostIds]] : ['`parent_id` IS NOT NULL', []];
}

/** Containers plus placeholders on each host (every host with children, or those of `hostIds`); hosts with none are absent. */
export async function usageByHost(m: EntityManager, hostIds?: readonly string[]): Promise<Map<string, Resources>> {
  if (hostIds && !hostIds.length) return new Map();
  const [parents, ids] = parentsOf(hostIds);
  const rows: (SumRow & { parentId: string })[] = await m.query(
    `SELECT \`parent_id\` AS parentId, SUM(\`res_cpus\`) AS cpus, SUM(\`res_memory_mib\`) AS memoryMiB, SUM(\`res_disk_gib\`) AS diskGiB
       FROM \`nodes\`
      WHERE ${parents} AND ${COUNTED}
      GROUP BY \`parent_id\``,
    ids,
  );
  return new Map(rows.map((r) => [r.parentId, sums(r)]));
}

async function groupsByHost(m: EntityManager, hostIds?: readonly string[]): Promise<Map<string, Record<string, number>>> {
  const [parents, ids] = parentsOf(hostIds);
  const rows: { parentId: string; groupNames: string }[] = await m.query(
    `SELECT \`parent_id\` AS parentId, \`group_names\` AS groupNames
       FROM \`nodes\`
      WHERE ${parents} AND \`group_names\` IS NOT NULL AND ${COUNTED}`,
    ids,
  );
  const groups = new Map<string, Record<string, number>>();
  for (const r of rows) {
    const counts = groups.get(r.parentId) ?? {};
    for (const g of parseGroups(r.groupNames)) counts[g] = (counts[g] ?? 0) + 1;
    groups.set(r.parentId, counts);
  }
  return groups;
}

/** Placeholders whose expiry is at or before `now`, oldest first. */
export function expiredPlaceholders(db: Transactions, now: Date): Promise<NodeRecord[]> {
  return db.read(async (m) => {
    const rows = await m
      .createQueryBuilder(NodeEntity, 'n')
      .where('n.type = :type', { type: 'placeholder' })
      .andWhere('n.expiresAt <= :now', { now: now.toISOString() })
      .orderBy('n.expiresAt', 'ASC')
      .getMany();
    return hydrate(m, rows);
  });
}

function sums(r: SumRow | undefined): Resources {
  return { cpus: num(r?.cpus), memoryMiB: num(r?.memoryMiB), diskGiB: num(r?.diskGiB) };
}
