// Where a container really is, decided from what the hosts answered, and the registry made to
// follow it. Used by `reconcile`, by the monitor for missing and unknown containers, and by the
// collector when a "stale copy" turns out to be the only copy.
import { Context } from '@temporalio/activity';
import type { ObservedContainer } from '../drivers/driver';
import { META, type ContainerState, type NodeRecord } from '../domain/types';
import type { Registry } from '../registry/types';
import { registryStateOf } from './reconcile';

export interface Copy {
  readonly hostId: string;
  readonly hostName: string;
  readonly seen: Pick<ObservedContainer, 'state'>;
}

export interface Settlement {
  /** The host the container is on afterwards (unchanged when undefined). */
  readonly hostId?: string;
  readonly state: ContainerState;
  readonly why: string;
}

/**
 * One copy: the container is there, in the state it shows. None, with every host answering:
 * `missing`. Several, or hosts that did not answer: `unknown` unless the registered host has a
 * copy (the others are stale copies, for the collector to remove with proof).
 */
export function settle(container: Pick<NodeRecord, 'name' | 'parentId'>, copies: readonly Copy[], unanswered: readonly string[], registeredHost?: string): Settlement {
  const home = copies.find((c) => c.hostId === container.parentId);
  const pick = copies.length === 1 ? copies[0] : home;
  if (pick) {
    const state = registryStateOf(pick.seen.state as never) ?? 'unknown';
    const moved = pick.hostId !== container.parentId;
    const others = copies.filter((c) => c !== pick).map((c) => c.hostName);
    const why = moved
      ? `${container.name} found on ${pick.hostName}, registry said ${registeredHost ?? 'no host'}`
      : `${container.name} found on ${pick.hostName}, its registered host${others.length ? `; copies on ${others.join(', ')} are stale` : ''}`;
    return { hostId: moved ? pick.hostId : undefined, state, why };
  }
  if (copies.length > 1) return { state: 'unknown', why: `${container.name} has copies on ${copies.map((c) => c.hostName).join(', ')} and none on its registered host` };
  if (unanswered.length) return { state: 'unknown', why: `${container.name} not found on the hosts that answered; ${unanswered.join(', ')} did not answer` };
  return { state: 'missing', why: `${container.name} is on no host (every host answered)` };
}

/**
 * Applies a settlement: the container moves to the host that has it (counted there from now on)
 * and takes the state the host shows. Guarded by the version read before the hosts were asked,
 * so a command that moved it meanwhile wins. Returns false when nothing was written.
 */
export async function applySettlement(
  registry: Registry,
  container: NodeRecord,
  settlement: Settlement,
  by: { readonly by: string; readonly commandId: string | null },
): Promise<boolean> {
  if (!settlement.hostId && settlement.state === container.state) return false;
  let node = container;
  const from = container.parentId;
  if (settlement.hostId) node = await registry.move(node.id, node.version, settlement.hostId);
  await registry.update(node.id, node.version, {
    state: settlement.state,
    metadata: { [META.stateCause]: settlement.why, [META.observedState]: settlement.state, ...(by.commandId ? { [META.lastCommand]: by.commandId } : {}) },
  });
  await registry.recordEvent({
    nodeId: container.id,
    what: `state ${container.state} → ${settlement.state}${settlement.hostId ? ' (moved)' : ''}`,
    why: settlement.why,
    by: by.by,
    commandId: by.commandId,
    data: { from, to: settlement.hostId ?? from },
  });
  count(settlement.state === 'missing' ? 'vmflow_containers_missing' : settlement.hostId ? 'vmflow_containers_adopted' : undefined);
  return true;
}

/** Counts in the worker's metrics (Temporal's Prometheus exporter) when running in an activity. */
export function count(name: string | undefined): void {
  if (!name) return;
  try {
    Context.current().metricMeter.createCounter(name, 'containers', 'containers the monitor found missing or adopted where they were found').add(1);
  } catch {
    // Not in an activity (a unit test): nothing to count into.
  }
}
