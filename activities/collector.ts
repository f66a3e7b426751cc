// The collector's activities: it removes what nobody owns — placeholders past their time to
// live, containers whose create died before it committed, and on each host that answers, copies
// that are stale or illegal (only with proof) and orphans past their grace period. Every destroy
// is kept as an event with the evidence it acted on.
import type { Client } from '@temporalio/client';
import { META, type JsonObject, type NodeRecord, type PlaceholderDefinition } from '../src/domain/types';
import type { DriverRegistry, HostRef, HostStatus } from '../src/drivers/driver';
import { hostRef } from '../src/drivers/refs';
import { hostStatuses } from '../src/monitor/fleet-status';
import { hostsIn } from '../src/monitor/host-batches';
import { registryStateOf } from '../src/monitor/reconcile';
import { applySettlement } from '../src/monitor/settle';
import type { HostRange, Registry } from '../src/registry/types';
import { guarded, watchEntities } from './entity-watch';
import { isOurs } from './hosts';

const BY = 'collector';

export function createCollectorActivities(deps: { registry: Registry; drivers: DriverRegistry; temporal: Client }) {
  const { registry, drivers, temporal } = deps;
  const { isRunning, busy, tellEntity } = watchEntities(temporal);

  return {
    /** Removes placeholders past their time to live, unless the command that holds one still runs. */
    async collectPlaceholders(input: { ttlSeconds: number }): Promise<{ removed: number; extended: number }> {
      let removed = 0;
      let extended = 0;
      for (const p of await registry.expiredPlaceholders(new Date())) {
        const def = p.definition as PlaceholderDefinition;
        if (await isRunning(p.metadata[META.workflowId])) {
          if (await registry.extendClaim(def.commandId, input.ttlSeconds)) extended++;
          continue;
        }
        if (await registry.release(def.commandId)) {
          removed++;
          if (p.parentId) {
            await registry.recordEvent({
              nodeId: p.parentId,
              what: `placeholder for ${def.containerName} removed`,
              why: `it expired at ${def.expiresAt} and command ${def.commandId} is no longer running`,
              by: BY,
              commandId: def.commandId,
              data: { resources: { ...def.resources } },
            });
          }
        }
      }
      return { removed, extended };
    },

    /** Removes containers stuck in `new` whose command is gone (killed before it committed or undid anything). */
    async collectAbandoned(input: { ttlSeconds: number }): Promise<number> {
      let removed = 0;
      const cutoff = Date.now() - input.ttlSeconds * 1000;
      for (const c of await registry.list({ type: 'container', state: 'new' })) {
        if (Date.parse(c.createdAt) > cutoff || (await isRunning(c.metadata[META.workflowId]))) continue;
        if (c.parentId) continue;
        await registry.remove(c.id);
        removed++;
      }
      return removed;
    },

    /**
     * On one host that answers: see `collectOn`. Kept for collector cycles that began before
     * batches; a host that does not answer fails the activity.
     */
    async collectHost(input: { hostId: string; graceSeconds: number }): Promise<{ destroyed: string[]; adopted: string[] }> {
      const host = await registry.find(input.hostId);
      if (!host || host.state !== 'up') return { destroyed: [], adopted: [] };
      const ref = hostRef(host);
      const status = await drivers.forHost(ref).hostStatus(ref);
      const claimed = new Set((await registry.children(host.id, 'placeholder')).map((p) => (p.definition as PlaceholderDefinition).containerName));
      const names = status.containers.filter((vm) => !claimed.has(vm.name)).map((vm) => vm.name);
      return collectOn(host, status, claimed, await ownersOf(names), input.graceSeconds);
    },

    /**
     * Collects a range of hosts: their statuses asked in one call where the driver answers for
     * many, the registry's owners of every VM name on them read in one query, their placeholders
     * in another. A host that does not answer (or is not up) is left for a later cycle and does
     * not fail the batch.
     */
    async collectBatch(input: { range: HostRange; graceSeconds: number; pollTimeoutMs: number }): Promise<{ hosts: number; unanswered: number; destroyed: string[]; adopted: string[] }> {
      const hosts = (await hostsIn(registry, input.range)).filter((h) => h.state === 'up');
      const answers = await hostStatuses(drivers, hosts.map(hostRef), input.pollTimeoutMs);
      const claimed = new Map<string, Set<string>>(hosts.map((h) => [h.id, new Set<string>()]));
      if (hosts.length) {
        for (const p of await registry.list({ type: 'placeholder', parentIds: hosts.map((h) => h.id) })) {
          claimed.get(p.parentId!)?.add((p.definition as PlaceholderDefinition).containerName);
        }
      }
      const names = hosts.flatMap((h, i) => (answers[i]!.status?.containers ?? []).filter((vm) => !claimed.get(h.id)!.has(vm.name)).map((vm) => vm.name));
      const owners = await ownersOf(names);
      const destroyed: string[] = [];
      const adopted: string[] = [];
      let unanswered = 0;
      for (const [i, host] of hosts.entries()) {
        const { status } = answers[i]!;
        if (!status) {
          unanswered++;
          continue;
        }
        const done = await collectOn(host, status, claimed.get(host.id)!, owners, input.graceSeconds);
        destroyed.push(...done.destroyed);
        adopted.push(...done.adopted);
        // What this host changed is read again, as collecting host by host would.
        for (const name of [...done.destroyed, ...done.adopted]) {
          const node = await registry.findByName(name);
          if (node) owners.set(name, node);
          else owners.delete(name);
        }
      }
      return { hosts: hosts.length, unanswered, destroyed, adopted };
    },
  };

  /** The registry's nodes by name, for these names: one query where the registry can. */
  async function ownersOf(names: readonly string[]): Promise<Map<string, NodeRecord>> {
    const unique = [...new Set(names)];
    const found = registry.findManyByName
      ? await registry.findManyByName(unique)
      : (await Promise.all(unique.map((n) => registry.findByName(n)))).filter((n): n is NodeRecord => n !== undefined);
    return new Map(found.map((n) => [n.name, n]));
  }

  /**
   * On one host that answers: destroys copies that are stale (their container lives on another
   * host) or illegal (replaced), and orphans past the grace period. Never a VM the registry
   * says belongs there, and never a copy unless the registry's own copy has been seen alive on
   * its registered host in two collector cycles; a "stale" copy whose owner's host does not
   * have it is the only copy, and the registry follows it instead. Each destroy records the
   * evidence it acted on. `owners` holds the registry's node of each VM name not claimed here.
   */
  async function collectOn(host: NodeRecord, status: HostStatus, claimed: ReadonlySet<string>, owners: ReadonlyMap<string, NodeRecord>, graceSeconds: number): Promise<{ destroyed: string[]; adopted: string[] }> {
    const scope: Collection = {
      host,
      graceSeconds,
      orphans: (host.metadata[META.orphans] as Record<string, string> | undefined) ?? {},
      evidence: (host.metadata[META.staleCopies] as Record<string, StaleCopyEvidence> | undefined) ?? {},
      nextEvidence: {},
      adopted: [],
      now: new Date().toISOString(),
    };
    const destroyed: string[] = [];
    for (const vm of status.containers) {
      if (claimed.has(vm.name)) continue;
      const owner = owners.get(vm.name);
      const container = owner?.type === 'container' ? owner : undefined;
      if (container && container.parentId === host.id && container.state !== 'illegal') continue;
      // A VM whose uuid is not its namesake's (left by a container destroyed while its host was
      // down, the name since reused) belongs to nobody: an orphan, not a copy.
      const owned = container && isOurs(vm, container.id) ? container : undefined;
      const reason = owned ? await judgeOwnedCopy(scope, vm, owned) : judgeOrphan(scope, vm, container);
      if (!reason) continue;
      await destroyCopy(host, vm, owned, reason);
      destroyed.push(vm.name);
    }
    await rememberCollection(scope, destroyed);
    return { destroyed, adopted: scope.adopted };
  }

  /** An orphan (no container owns its name) is destroyed once its grace period is over. */
  function judgeOrphan(scope: Collection, vm: SeenVm, namesake?: NodeRecord): DestroyReason | undefined {
    const firstSeen = scope.orphans[vm.name];
    if (!firstSeen || Date.now() - Date.parse(firstSeen) < scope.graceSeconds * 1000) return undefined;
    const nobody = namesake ? `known to nobody: its uuid ${vm.uuid} is not that of ${namesake.name} (${namesake.id})` : 'known to nobody';
    return { why: `${vm.name} is ${nobody} (first seen ${firstSeen}, grace ${scope.graceSeconds} s)`, proof: {} };
  }

  /**
   * A copy of a container the registry places elsewhere (or replaced): destroyed only after its
   * registry copy has been seen alive on its registered host twice; adopted when that host does
   * not have it. Sightings are gathered in `scope.nextEvidence`, adoptions in `scope.adopted`.
   */
  async function judgeOwnedCopy(scope: Collection, vm: SeenVm, container: NodeRecord): Promise<DestroyReason | undefined> {
    const { host, evidence, nextEvidence } = scope;
    // The registry's own copy of this VM: the container itself elsewhere, or its replacement.
    const live = container.parentId === host.id ? await replacementOf(container) : container;
    if (!live?.parentId || live.parentId === host.id || !isOurs(vm, container.id) || ['new', 'lost', 'missing', 'unknown'].includes(live.state) || (await busy(live.name))) return undefined;
    const home = await registry.find(live.parentId);
    if (!home) return undefined;
    const sighting = await lookAt(hostRef(home), live);
    if (sighting === 'no answer') {
      if (evidence[vm.name]) nextEvidence[vm.name] = evidence[vm.name]!;
      return undefined;
    }
    if (sighting === 'absent') {
      // Its registered host does not have it: this is the only copy, and the registry follows.
      if (container === live) await adoptCopy(scope, vm, container, home);
      return undefined;
    }
    const seen = [...(evidence[vm.name]?.home === home.name ? evidence[vm.name]!.confirmations : []), { at: scope.now, state: sighting.state }];
    if (seen.length < 2) {
      nextEvidence[vm.name] = { home: home.name, live: live.name, confirmations: seen };
      return undefined;
    }
    const why =
      container === live
        ? `${vm.name} lives on ${home.name} (seen there ${seen.map((c) => `${c.state} at ${c.at}`).join(', ')}); this copy is stale`
        : `${vm.name} is illegal: ${String(container.metadata[META.stateCause] ?? 'replaced')}; ${live.name} runs on ${home.name} (seen ${seen.map((c) => `${c.state} at ${c.at}`).join(', ')})`;
    return { why, proof: { home: home.name, live: live.name, confirmations: seen } };
  }

  async function adoptCopy(scope: Collection, vm: SeenVm, container: NodeRecord, home: NodeRecord): Promise<void> {
    const state = registryStateOf(vm.state);
    const reason = `${vm.name} found on ${scope.host.name}, registry said ${home.name}`;
    if (state && (await guarded(() => applySettlement(registry, container, { hostId: scope.host.id, state, why: reason }, { by: BY, commandId: null })))) {
      scope.adopted.push(vm.name);
      await tellEntity(vm.name, state, reason);
    }
  }

  /** Removes the VM and records why; an illegal container registered here goes with it. */
  async function destroyCopy(host: NodeRecord, vm: SeenVm, container: NodeRecord | undefined, { why, proof }: DestroyReason): Promise<void> {
    await removeCopy(hostRef(host), vm.name, vm.uuid);
    await registry.recordEvent({ nodeId: host.id, what: `destroyed ${vm.name}`, why, by: BY, commandId: null, data: { vm: vm.name, uuid: vm.uuid ?? null, ...proof } });
    if (container && container.state === 'illegal' && container.parentId === host.id) {
      await registry.recordEvent({ nodeId: container.id, what: 'removed', why, by: BY, commandId: null, data: { host: host.name, ...proof } });
      await registry.remove(container.id);
    }
  }

  /** Keeps on the host what the next cycle needs: orphans not destroyed, and the sightings gathered. */
  async function rememberCollection({ host, orphans, evidence, nextEvidence }: Collection, destroyed: readonly string[]): Promise<void> {
    const orphansLeft = destroyed.some((n) => n in orphans) ? Object.fromEntries(Object.entries(orphans).filter(([n]) => !destroyed.includes(n))) : undefined;
    const evidenceChanged = JSON.stringify(nextEvidence) !== JSON.stringify(evidence);
    if (orphansLeft || evidenceChanged) {
      await registry.update(host.id, undefined, { metadata: { ...(orphansLeft ? { [META.orphans]: orphansLeft } : {}), ...(evidenceChanged ? { [META.staleCopies]: nextEvidence } : {}) } });
    }
  }

  /** The container that replaced an illegal one, if the registry still has it. */
  async function replacementOf(illegal: NodeRecord): Promise<NodeRecord | undefined> {
    const by = illegal.metadata[META.replacedBy];
    if (typeof by !== 'string') return undefined;
    const node = (await registry.findByName(by)) ?? (await registry.find(by));
    return node?.type === 'container' ? node : undefined;
  }

  /** What the registered host says of the registry's copy: alive (with its state), absent, or nothing. */
  async function lookAt(home: HostRef, live: NodeRecord): Promise<{ state: string } | 'absent' | 'no answer'> {
    try {
      const seen = await drivers.forHost(home).containerStatus(home, live.name);
      if (!seen || !isOurs(seen, live.id)) return 'absent';
      return seen.state === 'migrating' ? 'no answer' : { state: seen.state };
    } catch {
      return 'no answer';
    }
  }

  async function removeCopy(ref: HostRef, name: string, uuid: string | undefined): Promise<void> {
    const driver = drivers.forHost(ref);
    const ctx = { progress: () => undefined };
    const seen = await driver.containerStatus(ref, name, ctx);
    if (!seen || !isOurs(seen, uuid)) return;
    if (seen.state === 'running' || seen.state === 'suspended') await driver.stop(ref, name, ctx);
    if (seen.provisioned) await driver.deprovision(ref, name, ctx);
    if (await driver.containerStatus(ref, name, ctx)) await driver.undefine(ref, name, ctx);
  }
}

/** Sightings of the registry's own copy on its host, kept across collector cycles on the host of a stale copy. */
interface StaleCopyEvidence {
  readonly home: string;
  readonly live: string;
  readonly confirmations: ReadonlyArray<{ readonly at: string; readonly state: string }>;
}

type SeenVm = HostStatus['containers'][number];

/** One collector pass over one host: what it read, and what it gathers for the next pass. */
interface Collection {
  readonly host: NodeRecord;
  readonly graceSeconds: number;
  readonly orphans: Record<string, string>;
  readonly evidence: Record<string, StaleCopyEvidence>;
  readonly nextEvidence: Record<string, StaleCopyEvidence>;
  readonly adopted: string[];
  readonly now: string;
}

interface DestroyReason {
  readonly why: string;
  readonly proof: JsonObject;
}

export type CollectorActivities = ReturnType<typeof createCollectorActivities>;
