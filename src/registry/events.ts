// The audit log: what happened to a node, when, why and by whom; newest first.
import { InvalidInputError, type FieldProblem } from '../domain/errors';
import { isoNow, parse } from './columns';
import { NodeEventEntity, type NodeEventRow } from './entities';
import type { Transactions } from './transactions';
import type { NewNodeEvent, NodeEvent } from './types';
import { isPlainObject } from './validation';

export async function recordEvent(db: Transactions, event: NewNodeEvent): Promise<void> {
  const problems = checkEvent(event);
  if (problems.length) throw new InvalidInputError(problems, 'event');
  const at = event.at ? new Date(event.at).toISOString() : isoNow();
  await db.writeOne((m) =>
    m.query('INSERT INTO `node_events` (`node_id`, `at`, `what`, `why`, `actor`, `command_id`, `data`) VALUES (?, ?, ?, ?, ?, ?, ?)', [
      event.nodeId,
      at,
      event.what,
      event.why ?? '',
      event.by ?? '',
      event.commandId ?? null,
      JSON.stringify(event.data ?? {}),
    ]),
  );
}

export function events(db: Transactions, nodeId: string, limit: number): Promise<NodeEvent[]> {
  return db.read(async (m) => {
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

function checkEvent(event: NewNodeEvent): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (typeof event.nodeId !== 'string' || !event.nodeId) problems.push({ field: 'nodeId', problem: 'must be a non-empty string' });
  if (typeof event.what !== 'string' || !event.what || event.what.length > 64)
    problems.push({ field: 'what', problem: 'must be 1 to 64 characters' });
  if (event.at !== undefined && Number.isNaN(Date.parse(event.at))) problems.push({ field: 'at', problem: 'must be an ISO 8601 time' });
  if (event.data !== undefined && !isPlainObject(event.data)) problems.push({ field: 'data', problem: 'must be an object' });
  return problems;
}
