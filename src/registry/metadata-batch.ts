// Metadata merged into many nodes in one transaction: what a monitor cycle records about a batch
// of hosts costs one read of their rows and one update each, not a transaction per host.
import { InvalidInputError, type FieldProblem } from '../domain/errors';
import type { JsonObject } from '../domain/types';
import { derive, parse } from './columns';
import { NodeEntity } from './entities';
import { chunks, writeRow } from './rows';
import { locksRows, type Transactions } from './transactions';
import { checkMetadataSize, isPlainObject, mergeMetadata } from './validation';

export interface MetadataMerge {
  readonly id: string;
  /** Merged into the stored metadata; a key set to null is deleted. */
  readonly metadata: JsonObject;
}

/** Merges each patch into its node's metadata; nodes that are gone are skipped. Returns the nodes written. */
export async function mergeMetadataMany(db: Transactions, merges: readonly MetadataMerge[]): Promise<number> {
  const problems: FieldProblem[] = [];
  merges.forEach((p, i) => {
    if (typeof p?.id !== 'string' || !isPlainObject(p.metadata)) problems.push({ field: `merges[${i}]`, problem: 'must be { id, metadata: object }' });
  });
  if (problems.length) throw new InvalidInputError(problems, 'metadata merge');
  if (!merges.length) return 0;
  const byId = new Map(merges.map((p) => [p.id, p.metadata]));
  return db.write(async (m) => {
    let written = 0;
    for (const ids of chunks([...byId.keys()])) {
      const qb = m.createQueryBuilder(NodeEntity, 'n').where('n.id IN (:...ids)', { ids });
      if (locksRows(m)) qb.setLock('pessimistic_write');
      // In id order, so that two batches over the same nodes lock them in the same order.
      for (const row of (await qb.orderBy('n.id', 'ASC').getMany())) {
        const metadata = mergeMetadata(parse(row.metadata), byId.get(row.id)!);
        const serialized = JSON.stringify(metadata);
        const sizeProblems: FieldProblem[] = [];
        checkMetadataSize(serialized, 'metadata', sizeProblems);
        if (sizeProblems.length) throw new InvalidInputError(sizeProblems, `metadata of ${row.name}`);
        await writeRow(m, row, { metadata: serialized, ...derive(row.type, parse(row.definition), metadata) });
        written++;
      }
    }
    return written;
  });
}
