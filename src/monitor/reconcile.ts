// What one poll of a host means for the registry: pure, so every rule is testable alone.
import type { ObservedContainer, ObservedState } from '../drivers/driver';
import type { ContainerState, JsonObject, Resources } from '../domain/types';
import { META } from '../domain/types';

/** The registry state an observed state stands for; undefined while it is in flux. */
export function registryStateOf(observed: ObservedState): ContainerState | undefined {
  switch (observed) {
    case 'running':
      return 'running';
    case 'suspended':
      return 'suspended';
    case 'defined':
    case 'stopped':
    case 'crashed':
      return 'stopped';
    case 'migrating':
      return undefined;
  }
}

export interface RegisteredContainer {
  readonly id: string;
  readonly name: string;
  readonly state: string;
  readonly parentId: string | null;
  /** The registry version read with it: a write based on this poll is guarded by it. */
  readonly version?: number;
}

/** States in which the registry says a container's VM is on its host. */
const PLACED: ReadonlySet<string> = new Set(['running', 'stopped', 'suspended']);

export interface HostPoll {
  readonly hostId: string;
  readonly hostName: string;
  readonly hostState: string;
  readonly metadata: JsonObject;
  /** The containers the registry has on this host. */
  readonly registered: readonly RegisteredContainer[];
  /** Names of containers with a live claim on this host (being created, cloned or migrated here). */
  readonly claimed: ReadonlySet<string>;
  /** The status the host answered with, or the error when it did not. */
  readonly status?: { readonly load: number; readonly free: Resources; readonly containers: readonly ObservedContainer[] };
  readonly error?: string;
}

export interface Drift {
  readonly containerId: string;
  readonly name: string;
  readonly from: string;
  readonly to: ContainerState;
}

export interface HostVerdict {
  /** Metadata to merge into the host node; empty when nothing changed. */
  readonly metadata: JsonObject;
  /** New host state, when it changes. */
  readonly state?: 'up' | 'down';
  /** Registered containers whose observed state differs from the registry. */
  readonly drifts: Drift[];
  /** Registered containers the host no longer answers for (it went down). */
  readonly lost: RegisteredContainer[];
  /** Lost or missing containers the host reports again, with the state it reports. */
  readonly found: Drift[];
  /** Containers the registry places on this host that the host (answering) does not have. */
  readonly missing: RegisteredContainer[];
  /** VMs the host has that belong to no container registered on it. */
  readonly unknown: string[];
}

export interface ReconcileOptions {
  readonly now: Date;
  /** Failed polls in a row before a host is down. */
  readonly downAfter: number;
  /** Write `lastContact` at most this often while nothing else changes. */
  readonly contactEverySeconds: number;
}

function sameNumber(a: unknown, b: number, tolerance: number): boolean {
  return typeof a === 'number' && Math.abs(a - b) <= tolerance;
}

function sameResources(a: unknown, b: Resources): boolean {
  const r = a as Resources | undefined;
  return !!r && r.cpus === b.cpus && r.memoryMiB === b.memoryMiB && r.diskGiB === b.diskGiB;
}

/**
 * Compares one poll with the registry. Writes only what changed: a quiet cluster costs no
 * writes, and `lastContact` is refreshed only every `contactEverySeconds`.
 */
export function reconcileHost(poll: HostPoll, options: ReconcileOptions): HostVerdict {
  const md = poll.metadata;
  const metadata: JsonObject = {};
  const verdict: HostVerdict = { metadata, drifts: [], lost: [], found: [], missing: [], unknown: [] };
  const failures = typeof md[META.failuresInRow] === 'number' ? (md[META.failuresInRow] as number) : 0;

  if (!poll.status) {
    metadata[META.failuresInRow] = failures + 1;
    metadata[META.lastError] = poll.error ?? 'no answer';
    if (failures + 1 >= options.downAfter && poll.hostState !== 'down') {
      (verdict as { state?: string }).state = 'down';
      verdict.lost.push(...poll.registered.filter((c) => c.state !== 'lost' && c.state !== 'illegal'));
    }
    return verdict;
  }

  const status = poll.status;
  if (failures !== 0) metadata[META.failuresInRow] = 0;
  if (md[META.lastError] !== undefined && md[META.lastError] !== null) metadata[META.lastError] = null;
  if (poll.hostState === 'down') (verdict as { state?: string }).state = 'up';
  const last = typeof md[META.lastContact] === 'string' ? Date.parse(md[META.lastContact] as string) : 0;
  const changed = !sameNumber(md[META.load], status.load, Math.max(0.25, status.load * 0.1)) || !sameResources(md[META.free], status.free);
  if (!sameNumber(md[META.load], status.load, Math.max(0.25, status.load * 0.1))) metadata[META.load] = status.load;
  if (!sameResources(md[META.free], status.free)) metadata[META.free] = { ...status.free };
  if (changed || Object.keys(metadata).length || options.now.getTime() - last >= options.contactEverySeconds * 1000) {
    metadata[META.lastContact] = options.now.toISOString();
  }

  const seen = new Map(status.containers.map((c) => [c.name, c]));
  const registeredNames = new Set<string>();
  for (const c of poll.registered) {
    registeredNames.add(c.name);
    const found = seen.get(c.name);
    if (c.state === 'illegal' || c.state === 'new') continue;
    // A VM by that name with another uuid is not this container's.
    const vm = found && (!found.uuid || found.uuid === c.id) ? found : undefined;
    if (!vm) {
      if (PLACED.has(c.state)) verdict.missing.push(c);
      continue;
    }
    const observed = registryStateOf(vm.state);
    if (!observed) continue;
    if (c.state === 'lost' || c.state === 'missing' || c.state === 'unknown') verdict.found.push({ containerId: c.id, name: c.name, from: c.state, to: observed });
    else if (c.state !== 'new' && c.state !== observed) verdict.drifts.push({ containerId: c.id, name: c.name, from: c.state, to: observed });
  }
  for (const vm of status.containers) {
    if (!registeredNames.has(vm.name) && !poll.claimed.has(vm.name)) verdict.unknown.push(vm.name);
  }
  verdict.unknown.sort();
  const orphans = (md[META.orphans] as Record<string, string> | undefined) ?? {};
  const nextOrphans: Record<string, string> = {};
  for (const name of verdict.unknown) nextOrphans[name] = orphans[name] ?? options.now.toISOString();
  if (JSON.stringify(nextOrphans) !== JSON.stringify(orphans)) metadata[META.orphans] = nextOrphans;
  return verdict;
}
