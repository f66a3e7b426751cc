// Registry activities for container commands. Each is idempotent: ids come from the workflow
// and claims are keyed by the command id, so a retry after a crash changes nothing twice.
import { Context } from '@temporalio/activity';
import type { ContainerDefinition, HypervisorDefinition, NodeRecord, PlaceholderDefinition, Resources } from '../src/domain/types';
import { META, keyOf } from '../src/domain/types';
import { InvalidInputError, InvalidTransitionError, NoCapacityError, NotFoundError } from '../src/domain/errors';
import { spreadGroupsOf } from '../src/domain/groups';
import { REASON } from '../src/allocator/reasons';
import type { ContainerSpec, HostRef, ObservedState } from '../src/drivers/driver';
import { hostRef, specOf } from '../src/drivers/refs';

export { hostRef, specOf };
import type { Registry } from '../src/registry/types';
import type { Provisioner } from '../src/provisioner';
import { Placer } from '../src/allocator/placer';
import { explain } from '../src/allocator/explain';
import type { CreateArgs } from '../src/domain/commands';
import { applySettlement, settle } from '../src/monitor/settle';

export interface ContainerContext {
  readonly container: NodeRecord<ContainerDefinition>;
  readonly spec: ContainerSpec;
  /** The host it is on, when it has one. */
  readonly host?: HostRef;
}

export interface ClaimInput {
  readonly commandId: string;
  readonly containerName: string;
  readonly containerId?: string;
  readonly resources: Resources;
  readonly driver?: string;
  readonly requires?: Record<string, string>;
  readonly hint?: string;
  readonly exclude?: readonly string[];
  readonly groups?: readonly string[];
  readonly antiAffinity?: readonly string[];
  readonly ttlSeconds: number;
  /** The placement's seed; the hash of the command id when unset. */
  readonly seed?: number;
}

export interface ClaimOutput {
  readonly host: HostRef;
  readonly placeholderId: string;
  readonly attempts: number;
  readonly skipped: ReadonlyArray<{ hostId: string; reason: string }>;
  /** Why it shares a host with a member of the same kind of its environment, when it must. */
  readonly spreadBroken?: string;
}



/** What a placeholder claimed with others keeps for its container's history (META.placement). */
interface BatchPlacement {
  /** The containers claimed together, this one among them. */
  readonly batch: readonly string[];
  readonly spreadBroken?: string;
}

function besideItsKind(err: NoCapacityError): string {
  return `placed beside a member of the same kind of its environment: ${err.message.replace(/^no capacity for [^:]*: /, 'no other host fits (')})`;
}

/** The workflow that runs the current activity; recorded so the collector can tell whether it still runs. */
function currentWorkflowId(): string | null {
  try {
    return Context.current().info.workflowExecution?.workflowId ?? null;
  } catch {
    return null;
  }
}

export function createRegistryActivities(registry: Registry, provisioner: Provisioner, options: { claimTtlSeconds?: number } = {}) {
  async function findNode(ref: string): Promise<NodeRecord | undefined> {
    return (await registry.findByName(ref)) ?? (/^[0-9a-f-]{36}$/i.test(ref) ? registry.find(ref) : undefined);
  }

  async function containerContext(node: NodeRecord): Promise<ContainerContext> {
    if (node.type !== 'container') throw new NotFoundError('container', node.name);
    const container = node as NodeRecord<ContainerDefinition>;
    const parent = container.parentId ? await registry.get(container.parentId) : undefined;
    return { container, spec: specOf(container), host: parent ? hostRef(parent) : undefined };
  }

  // One working copy of the hosts for every placement this worker makes.
  const placer = new Placer(registry);

  /** The placement request and the claim a ClaimInput asks for; a hint must name a hypervisor. */
  async function claimParts(input: ClaimInput) {
    if (input.hint) {
      const hinted = await findNode(input.hint);
      if (!hinted || hinted.type !== 'hypervisor') throw new NotFoundError('hypervisor', input.hint);
    }
    const exclude = await Promise.all((input.exclude ?? []).map(async (ref) => (await findNode(ref))?.id ?? ref));
    const request = {
      name: input.containerName,
      resources: input.resources,
      driver: input.driver,
      requires: input.requires,
      hint: input.hint,
      exclude,
      antiAffinity: input.antiAffinity,
    };
    const claimBase = {
      commandId: input.commandId,
      containerName: input.containerName,
      containerId: input.containerId,
      ttlSeconds: options.claimTtlSeconds ?? input.ttlSeconds,
      groups: input.groups,
      metadata: { [META.workflowId]: currentWorkflowId() } as Record<string, unknown>,
    };
    return { request, claimBase };
  }

  /** A batch member's placement in its container's history, once: a retried claim finds it recorded. */
  async function recordBatchPlacement(containerId: string, commandId: string, host: string, placed: BatchPlacement): Promise<void> {
    const recorded = await registry.events(containerId, 50);
    if (recorded.some((e) => e.commandId === commandId && e.what === 'placement')) return;
    if (placed.spreadBroken) {
      await registry.recordEvent({ nodeId: containerId, what: `placed on ${host} beside its kind`, why: placed.spreadBroken, by: 'allocator', commandId, data: { host } });
    }
    await registry.recordEvent({
      nodeId: containerId,
      what: 'placement',
      why: `${host}, claimed together with ${placed.batch.length - 1} other member${placed.batch.length === 2 ? '' : 's'} of its environment, all or nothing`,
      by: 'allocator',
      commandId,
      data: { host, batch: [...placed.batch] },
    });
  }

  return {
    async loadContainer(name: string): Promise<ContainerContext> {
      const node = await findNode(name);
      if (!node || node.type !== 'container') throw new NotFoundError('container', name);
      return containerContext(node);
    },


    async loadHost(ref: string): Promise<HostRef> {
      const node = await findNode(ref);
      if (!node || node.type !== 'hypervisor') throw new NotFoundError('hypervisor', ref);
      return hostRef(node);
    },

    /** Adds the container to the registry (state `new`, no host), reserving name, ip and mac. */
    async provisionContainer(input: { id: string; name: string; args: CreateArgs; commandId: string }): Promise<ContainerContext> {
      const node = await provisioner.provisionContainer({
        id: input.id,
        name: input.name,
        definition: input.args.definition as ContainerDefinition,
        tags: input.args.tags,
        metadata: { [META.workflowId]: currentWorkflowId(), [META.lastCommand]: input.commandId, ...(input.args.groups?.length ? { [META.groups]: [...input.args.groups] } : {}) },
      });
      return containerContext(node);
    },

    /** Adds a clone's registry node: the source's definition with its own name, ip and mac. */
    async provisionClone(input: { id: string; sourceId: string; name: string; ip?: string; mac?: string; tags?: Record<string, string> }): Promise<ContainerContext> {
      const existing = await registry.find(input.id);
      if (existing) return containerContext(existing);
      const source = (await registry.get(input.sourceId)) as NodeRecord<ContainerDefinition>;
      const { network, ...rest } = source.definition;
      const node = await provisioner.provisionContainer({
        id: input.id,
        name: input.name,
        definition: { ...rest, network: { ...(network.bridge ? { bridge: network.bridge } : {}), ...(input.ip ? { ip: input.ip } : {}), ...(input.mac ? { mac: input.mac } : {}) } } as ContainerDefinition,
        tags: input.tags ?? source.tags,
        metadata: { [META.workflowId]: currentWorkflowId() },
      });
      return containerContext(node);
    },

    /** Removes a container node that never reached a host (compensation of provision). */
    async unprovisionContainer(id: string): Promise<void> {
      const node = await registry.find(id);
      if (!node) return;
      await registry.remove(id, { cascade: false });
    },

    /** Picks a host and claims capacity on it with a placeholder; retries the next candidate when it lost a race. */
    async claimPlacement(input: ClaimInput): Promise<ClaimOutput> {
      const existing = await registry.findByKey(keyOf.claim(input.commandId));
      if (existing) {
        const host = hostRef(await registry.get(existing.parentId!));
        // Claimed with its environment's other members: its history says where and why now that it exists.
        const placed = existing.metadata[META.placement] as BatchPlacement | undefined;
        if (placed && input.containerId) await recordBatchPlacement(input.containerId, input.commandId, host.name, placed);
        return { host, placeholderId: existing.id, attempts: 0, skipped: [], ...(placed?.spreadBroken ? { spreadBroken: placed.spreadBroken } : {}) };
      }
      const { request, claimBase } = await claimParts(input);
      // Same-kind members of an environment go to different hosts when another host fits; when
      // none does, they share one and the container's history says why.
      const spread = spreadGroupsOf(input.groups);
      let result: Awaited<ReturnType<Placer['placeAndClaim']>>;
      let spreadBroken: string | undefined;
      try {
        result = await placer.placeAndClaim({ ...request, antiAffinity: [...(input.antiAffinity ?? []), ...spread] }, claimBase, input.seed);
      } catch (err) {
        if (!spread.length || !(err instanceof NoCapacityError) || !err.reasons[REASON.antiAffinity]) throw err;
        result = await placer.placeAndClaim(request, claimBase, input.seed);
        spreadBroken = besideItsKind(err);
      }
      const host = hostRef(await registry.get(result.placeholder.parentId!));
      if (spreadBroken && input.containerId) {
        await registry.recordEvent({ nodeId: input.containerId, what: `placed on ${host.name} beside its kind`, why: spreadBroken, by: 'allocator', commandId: input.commandId, data: { host: host.name } });
      }
      // Why the container goes where it goes, in its history (the container page shows it).
      if (input.containerId) {
        const rejected = Object.values(result.placement.rejections).some((n) => n > 0) ? `; passed over: ${explain(result.placement)}` : '';
        const candidates = result.placement.candidates.slice(0, 5).map((c) => ({ host: c.hostName, score: Math.round(c.score * 1000) / 1000 }));
        await registry.recordEvent({
          nodeId: input.containerId,
          what: 'placement',
          why: `${host.name}${input.hint ? ', as asked' : `, best of ${result.placement.candidates.length} candidate${result.placement.candidates.length === 1 ? '' : 's'}`}${rejected}`,
          by: 'allocator',
          commandId: input.commandId,
          data: { host: host.name, hint: input.hint ?? null, rejections: { ...result.placement.rejections }, candidates, attempts: result.attempts },
        });
      }
      return {
        host,
        placeholderId: result.placeholder.id,
        attempts: result.attempts,
        skipped: result.skipped,
        ...(spreadBroken ? { spreadBroken } : {}),
      };
    },

    /**
     * Claims capacity for several containers in one registry transaction, all or nothing (an
     * environment's members): each claim keyed by its own command id, so each container's create
     * finds its claim made (claimPlacement). The same-kind spread is kept as claimPlacement keeps
     * it: a member that cannot be kept apart from its kind is placed beside it, and says so; a
     * member that does not fit at all refuses the whole batch, nothing claimed. The largest are
     * placed first. A retry returns the claims already made.
     */
    async claimPlacements(input: {
      readonly claims: readonly ClaimInput[];
      /** The environment whose history records where its members went, and the command that places them. */
      readonly environment?: { readonly id: string; readonly commandId: string };
    }): Promise<ClaimOutput[]> {
      const { claims } = input;
      if (!claims.length) return [];
      const names = claims.map((c) => c.containerName);
      const existing = await Promise.all(claims.map((c) => registry.findByKey(keyOf.claim(c.commandId))));
      if (existing.every((e): e is NodeRecord => !!e)) {
        return Promise.all(
          existing.map(async (p) => {
            const spreadBroken = (p.metadata[META.placement] as BatchPlacement | undefined)?.spreadBroken;
            return { host: hostRef(await registry.get(p.parentId!)), placeholderId: p.id, attempts: 0, skipped: [], ...(spreadBroken ? { spreadBroken } : {}) };
          }),
        );
      }
      const parts = await Promise.all(claims.map(claimParts));
      const spread = claims.map((c) => spreadGroupsOf(c.groups));
      const broken = new Map<number, string>();
      // The largest first, so that small members do not take the room a large one needs; ties keep their order.
      const size = (i: number) => claims[i]!.resources;
      const order = claims.map((_, i) => i).sort((a, b) => size(b).memoryMiB - size(a).memoryMiB || size(b).cpus - size(a).cpus || size(b).diskGiB - size(a).diskGiB || a - b);
      let placed: NodeRecord[] | undefined;
      let attempts = 0;
      while (!placed) {
        const requests = order.map((i) => ({ ...parts[i]!.request, antiAffinity: [...(claims[i]!.antiAffinity ?? []), ...(broken.has(i) ? [] : spread[i]!)] }));
        const bases = order.map((i) => ({
          ...parts[i]!.claimBase,
          metadata: { ...parts[i]!.claimBase.metadata, [META.placement]: { batch: names, ...(broken.has(i) ? { spreadBroken: broken.get(i)! } : {}) } satisfies BatchPlacement },
        }));
        try {
          const result = await placer.placeAllAndClaim(requests, bases);
          placed = [];
          for (const [k, i] of order.entries()) placed[i] = result.placeholders[k]!;
          attempts = result.attempts;
        } catch (err) {
          // The member that did not fit may share a host with its kind, as a single create may.
          const i = err instanceof NoCapacityError && err.reasons[REASON.antiAffinity] ? names.indexOf(err.container) : -1;
          if (i < 0 || !spread[i]!.length || broken.has(i)) throw err;
          broken.set(i, besideItsKind(err as NoCapacityError));
        }
      }
      const hosts = await Promise.all(placed.map(async (p) => hostRef(await registry.get(p.parentId!))));
      if (input.environment) {
        await registry.recordEvent({
          nodeId: input.environment.id,
          what: 'members placed',
          why: `${names.map((n, i) => `${n} on ${hosts[i]!.name}`).join(', ')}: claimed together in one transaction, all or nothing${broken.size ? `; ${[...broken].map(([i, why]) => `${names[i]} ${why}`).join('; ')}` : ''}`,
          by: 'allocator',
          commandId: input.environment.commandId,
          data: { members: names.map((n, i) => ({ container: n, host: hosts[i]!.name, commandId: claims[i]!.commandId, besideItsKind: broken.has(i) })), attempts },
        });
      }
      return placed.map((p, i) => ({
        host: hosts[i]!,
        placeholderId: p.id,
        attempts,
        skipped: [],
        ...(broken.has(i) ? { spreadBroken: broken.get(i)! } : {}),
      }));
    },

    /** Releases several claims (the undo of claimPlacements): those already committed or released are left. */
    async releaseClaims(commandIds: readonly string[]): Promise<number> {
      let released = 0;
      for (const id of commandIds) if (await registry.release(id)) released++;
      return released;
    },

    async extendClaim(input: { commandId: string; ttlSeconds: number }): Promise<boolean> {
      return registry.extendClaim(input.commandId, input.ttlSeconds);
    },

    async releaseClaim(commandId: string): Promise<boolean> {
      return registry.release(commandId);
    },

    /** The container becomes a child of the claimed host; the placeholder goes; the state is set. */
    async commitPlacement(input: { commandId: string; containerId: string; state: string; cause?: string }): Promise<void> {
      const before = input.cause ? await registry.get(input.containerId) : undefined;
      const after = await registry.commitClaim(input.commandId, input.containerId, {
        state: input.state,
        metadata: { [META.lastCommand]: input.commandId, ...(input.cause ? { [META.stateCause]: input.cause, [META.stateBeforeLost]: null } : {}) },
      });
      // A move with a reason (a failover) is kept in the container's history.
      if (before && input.cause && before.parentId !== after.parentId) {
        const host = after.parentId ? (await registry.find(after.parentId))?.name : undefined;
        await registry.recordEvent({ nodeId: after.id, what: `state ${before.state} → ${after.state} on ${host}`, why: input.cause, by: 'failover', commandId: input.commandId, data: { host: host ?? null } });
      }
    },

    async setContainerState(input: { containerId: string; state: string; commandId: string; cause?: string }): Promise<void> {
      const node = await registry.get(input.containerId);
      if (node.state === input.state) return;
      await registry.update(node.id, undefined, {
        state: input.state,
        metadata: { [META.lastCommand]: input.commandId, [META.stateCause]: input.cause ?? `command ${input.commandId}` },
      });
    },

    /** Checks that the registry agrees the command may run (another client may have changed it). */
    async expectState(input: { containerId: string; command: string; allowed: readonly string[] }): Promise<string> {
      const node = await registry.get(input.containerId);
      if (!input.allowed.includes(node.state)) throw new InvalidTransitionError(input.command, node.name, node.state);
      return node.state;
    },

    async setDefinition(input: { containerId: string; definition: ContainerDefinition }): Promise<void> {
      const schemaProblems = provisioner.validate('container', { name: 'x', definition: input.definition });
      if (schemaProblems.length) throw new InvalidInputError(schemaProblems, 'definition');
      await registry.updateDefinitionWithinCapacity(input.containerId, undefined, input.definition);
    },

    /**
     * A command could not undo itself: the container's place is not verified. It stays counted
     * where the registry had it, flagged `unknown` with the reason, until it is settled.
     */
    async markUnknown(input: { containerId: string; commandId: string; reason: string }): Promise<void> {
      const node = await registry.find(input.containerId);
      if (!node || (node.state === 'unknown' && node.metadata[META.lastCommand] === input.commandId)) return;
      await registry.update(node.id, undefined, {
        state: 'unknown',
        metadata: { [META.lastCommand]: input.commandId, [META.stateCause]: input.reason },
      });
      await registry.recordEvent({ nodeId: node.id, what: `state ${node.state} → unknown`, why: input.reason, by: 'command', commandId: input.commandId, data: {} });
    },

    /** Every hypervisor, for commands that must ask all of them where a container is. */
    async allHosts(): Promise<HostRef[]> {
      return (await registry.list({ type: 'hypervisor' })).map(hostRef);
    },

    /** Makes the registry follow where the hosts say the container is (reconcile). */
    async settleContainer(input: { containerId: string; commandId: string; found: Array<{ hostId: string; hostName: string; state: ObservedState }>; unanswered: string[] }): Promise<{ state: string; host?: string; why: string }> {
      const node = await registry.get(input.containerId);
      const registered = node.parentId ? (await registry.find(node.parentId))?.name : undefined;
      const verdict = settle(node, input.found.map((f) => ({ hostId: f.hostId, hostName: f.hostName, seen: { state: f.state } })), input.unanswered, registered);
      await applySettlement(registry, node, verdict, { by: 'reconcile', commandId: input.commandId });
      const after = await registry.get(input.containerId);
      return { state: after.state, host: after.parentId ? (await registry.find(after.parentId))?.name : undefined, why: verdict.why };
    },

    /** Removes a destroyed container: its keys go with it. */
    async removeContainer(containerId: string): Promise<void> {
      if (await registry.find(containerId)) await registry.remove(containerId, { cascade: true });
    },

  };
}

export type RegistryActivities = ReturnType<typeof createRegistryActivities>;
