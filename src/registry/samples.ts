// Host samples: each host's capacity split into what its containers use, what placeholders hold
// and what it allows, as the monitor saw it over time. Rows are spaced (at most one per host per
// `spacingSeconds`) and kept for `keepSeconds`, so the table stays bounded whatever the monitor's
// pace. Reads come back in time buckets summed in SQL, for one host or the whole cluster.
import type { EntityManager } from 'typeorm';
import { InvalidInputError } from '../domain/errors';
import { ZERO, type Resources } from '../domain/types';
import { allowanceOf, num } from './columns';
import { NodeEntity } from './entities';
import type { Transactions } from './transactions';
import type { HostSampleOptions, SamplePoint, SampleQuery } from './types';

/** One sample per host per minute at most. */
export const SAMPLE_SPACING_SECONDS = 60;
/** Samples older than a day are removed as new ones come in. */
export const SAMPLE_KEEP_SECONDS = 24 * 3600;
/** A read answers at most this many buckets. */
export const MAX_SAMPLE_POINTS = 1000;

type SumRow = { type?: unknown; cpus: unknown; memoryMiB: unknown; diskGiB: unknown };
const sums = (r: SumRow | undefined): Resources => (r ? { cpus: num(r.cpus), memoryMiB: num(r.memoryMiB), diskGiB: num(r.diskGiB) } : ZERO);

/**
 * Records what a host holds now. Skipped (false) when the host is gone or its last sample is
 * younger than the spacing; samples past their keep time, of any host, go in the same transaction.
 */
export async function recordHostSample(db: Transactions, hostId: string, options: HostSampleOptions = {}): Promise<boolean> {
  const at = (options.at ?? new Date()).getTime();
  const spacingMs = (options.spacingSeconds ?? SAMPLE_SPACING_SECONDS) * 1000;
  const keepMs = (options.keepSeconds ?? SAMPLE_KEEP_SECONDS) * 1000;
  const tooSoon = async (m: EntityManager) => {
    const last: { at: unknown }[] = await m.query('SELECT MAX(`at_ms`) AS at FROM `host_samples` WHERE `host_id` = ?', [hostId]);
    const lastAt = last[0]?.at;
    return lastAt !== null && lastAt !== undefined && Math.abs(at - num(lastAt)) < spacingMs;
  };
  // Most monitor cycles come sooner than the spacing: they are turned away by a read, not a write.
  if (await db.read(tooSoon)) return false;
  return db.write(async (m) => {
    const host = await m.createQueryBuilder(NodeEntity, 'n').where('n.id = :hostId AND n.type = :type', { hostId, type: 'hypervisor' }).getOne();
    if (!host || (await tooSoon(m))) return false;
    const { containers, placeholders } = await holdings(m, hostId);
    const allowance = allowanceOf(host);
    await m.query(
      `INSERT INTO \`host_samples\` (\`host_id\`, \`at_ms\`, \`state\`, \`allow_cpus\`, \`allow_memory_mib\`, \`allow_disk_gib\`,
         \`used_cpus\`, \`used_memory_mib\`, \`used_disk_gib\`, \`held_cpus\`, \`held_memory_mib\`, \`held_disk_gib\`)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [hostId, at, host.state, allowance.cpus, allowance.memoryMiB, allowance.diskGiB, containers.cpus, containers.memoryMiB, containers.diskGiB, placeholders.cpus, placeholders.memoryMiB, placeholders.diskGiB],
    );
    await m.query('DELETE FROM `host_samples` WHERE `at_ms` < ?', [at - keepMs]);
    return true;
  });
}

async function holdings(m: EntityManager, hostId: string): Promise<{ containers: Resources; placeholders: Resources }> {
  const rows: SumRow[] = await m.query(
    `SELECT \`type\` AS type, SUM(\`res_cpus\`) AS cpus, SUM(\`res_memory_mib\`) AS memoryMiB, SUM(\`res_disk_gib\`) AS diskGiB
       FROM \`nodes\`
      WHERE \`parent_id\` = ? AND (\`type\` = 'container' OR \`type\` = 'placeholder')
      GROUP BY \`type\``,
    [hostId],
  );
  return { containers: sums(rows.find((r) => r.type === 'container')), placeholders: sums(rows.find((r) => r.type === 'placeholder')) };
}

const COLUMNS = ['allow_cpus', 'allow_memory_mib', 'allow_disk_gib', 'used_cpus', 'used_memory_mib', 'used_disk_gib', 'held_cpus', 'held_memory_mib', 'held_disk_gib'] as const;

/**
 * Samples from `from` (inclusive) to `to` (exclusive) in buckets of `stepSeconds`, oldest first;
 * buckets without a sample are left out. Within a bucket each host counts once (the average of its
 * samples there); the cluster's figure is the sum over the hosts sampled in the bucket.
 */
export function samples(db: Transactions, query: SampleQuery): Promise<SamplePoint[]> {
  const from = query.from.getTime();
  const to = query.to.getTime();
  const stepMs = Math.round(query.stepSeconds * 1000);
  const problems = [];
  if (!Number.isFinite(from) || !Number.isFinite(to) || from >= to) problems.push({ field: 'from', problem: 'must be before to' });
  if (!(stepMs >= 1000)) problems.push({ field: 'stepSeconds', problem: 'must be at least 1' });
  else if ((to - from) / stepMs > MAX_SAMPLE_POINTS) problems.push({ field: 'stepSeconds', problem: `makes more than ${MAX_SAMPLE_POINTS} points between from and to` });
  if (problems.length) return Promise.reject(new InvalidInputError(problems, 'samples'));
  const perHost = COLUMNS.map((c) => `AVG(\`${c}\`) AS ${c}`).join(', ');
  const total = COLUMNS.map((c) => `SUM(s.${c}) AS ${c}`).join(', ');
  const params: unknown[] = [from, stepMs, from, to];
  const hostFilter = query.hostId ? 'AND `host_id` = ?' : '';
  if (query.hostId) params.push(query.hostId);
  return db.read(async (m) => {
    // Buckets start at `from`: bucket = from + step * floor((at - from) / step), written with %
    // for SQLite and MySQL alike.
    const rows: Record<string, unknown>[] = await m.query(
      `SELECT s.bucket AS bucket, COUNT(*) AS hosts, SUM(s.up) AS up, ${total}
         FROM (SELECT (\`at_ms\` - ((\`at_ms\` - ?) % ?)) AS bucket, \`host_id\`,
                      MAX(CASE WHEN \`state\` = 'up' THEN 1 ELSE 0 END) AS up, ${perHost}
                 FROM \`host_samples\`
                WHERE \`at_ms\` >= ? AND \`at_ms\` < ? ${hostFilter}
                GROUP BY bucket, \`host_id\`) s
        GROUP BY s.bucket
        ORDER BY s.bucket`,
      params,
    );
    return rows.map(
      (r): SamplePoint => ({
        at: new Date(num(r.bucket)).toISOString(),
        hosts: num(r.hosts),
        up: num(r.up),
        allowance: { cpus: num(r.allow_cpus), memoryMiB: num(r.allow_memory_mib), diskGiB: num(r.allow_disk_gib) },
        containers: { cpus: num(r.used_cpus), memoryMiB: num(r.used_memory_mib), diskGiB: num(r.used_disk_gib) },
        placeholders: { cpus: num(r.held_cpus), memoryMiB: num(r.held_memory_mib), diskGiB: num(r.held_disk_gib) },
      }),
    );
  });
}
