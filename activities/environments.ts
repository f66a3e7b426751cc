// Environment activities: membership in the registry, hook calls, and container commands run on
// behalf of an environment (through each container's own entity, so they stay one at a time).
import { Context } from '@temporalio/activity';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import type { CommandArgs, CommandResult, ContainerCommand } from '../src/domain/commands';
import { DeniedError, NotFoundError } from '../src/domain/errors';
import type { EnvironmentArgs } from '../src/domain/environments';
import { workflowIds } from '../src/domain/names';
import { META, type ContainerDefinition, type EnvironmentDefinition, type NodeRecord } from '../src/domain/types';
import type { DriverRegistry } from '../src/drivers/driver';
import { ContainerCommands } from '../src/service/commands';
import { byPriority, type HookDecision, type HookEvent, type Kinds, type Member } from '../src/hooks';
import type { Provisioner } from '../src/provisioner';
import type { Registry } from '../src/registry/types';
import { hostRef } from '../src/drivers/refs';

/** How an environment keeps its members: container id, kind and priority. */
interface StoredMember {
  readonly id: string;
  readonly kind: string;
  readonly priority: number;
}

export interface EnvironmentView {
  readonly id: string;
  readonly name: string;
  readonly definition: EnvironmentDefinition;
  /** Lowest priority first. */
  readonly members: Member[];
}

export interface HookCall {
  readonly commandId: string;
  readonly environment: string;
  readonly event: HookEvent;
  /** The member whose handler runs; a newcomer not yet in the registry is passed whole. */
  readonly self: Member;
  readonly other?: Member;
  readonly cause?: string;
}

function storedMembers(env: NodeRecord): StoredMember[] {
  return (env.metadata[META.members] as StoredMember[] | undefined) ?? [];
}

export interface EnvironmentDeps {
  readonly registry: Registry;
  readonly provisioner: Provisioner;
  readonly drivers: DriverRegistry;
  readonly kinds: Kinds;
  readonly temporal: Client;
}

export function createEnvironmentActivities(deps: EnvironmentDeps) {
  const { registry, kinds } = deps;
  const commands = new ContainerCommands(deps.temporal, registry);

  async function environmentNode(name: string): Promise<NodeRecord> {
    const node = await registry.findByName(name);
    if (!node || node.type !== 'environment') throw new NotFoundError('environment', name);
    return node;
  }

  async function memberView(stored: StoredMember): Promise<Member | undefined> {
    const node = (await registry.find(stored.id)) as NodeRecord<ContainerDefinition> | undefined;
    if (!node) return undefined;
    const host = node.parentId ? await registry.find(node.parentId) : undefined;
    return { id: node.id, name: node.name, kind: stored.kind, priority: stored.priority, ip: node.definition.network.ip, state: node.state, host: host?.name };
  }

  async function view(name: string): Promise<EnvironmentView> {
    const env = await environmentNode(name);
    const members = (await Promise.all(storedMembers(env).map(memberView))).filter((m): m is Member => !!m);
    return { id: env.id, name: env.name, definition: env.definition as EnvironmentDefinition, members: byPriority(members) };
  }

  return {
    async provisionEnvironment(input: { id: string; name: string; args: EnvironmentArgs['create'] }): Promise<void> {
      if (await registry.find(input.id)) return;
      await deps.provisioner.provisionEnvironment({
        id: input.id,
        name: input.name,
        definition: { ...(input.args.description ? { description: input.args.description } : {}), ...(input.args.antiAffinity ? { antiAffinity: true } : {}) },
      });
    },

    async removeEnvironment(name: string): Promise<void> {
      const env = await registry.findByName(name);
      if (env?.type === 'environment') await registry.remove(env.id);
    },

    loadEnvironment: view,

    /** The member a container would be, with its kind's priority. */
    async memberOf(input: { container: string; kind?: string }): Promise<Member> {
      const node = (await registry.findByName(input.container)) as NodeRecord<ContainerDefinition> | undefined;
      if (!node || node.type !== 'container') throw new NotFoundError('container', input.container);
      const kind = kinds.get(input.kind ?? node.definition.kind);
      const host = node.parentId ? await registry.find(node.parentId) : undefined;
      return { id: node.id, name: node.name, kind: kind.name, priority: kind.priority, ip: node.definition.network.ip, state: node.state, host: host?.name };
    },

    /** Defaults and priority of a kind, for containers a hook asks for. */
    async kindInfo(kind: string): Promise<{ name: string; priority: number; defaults: Omit<ContainerDefinition, 'network' | 'kind'> }> {
      const k = kinds.get(kind);
      return { name: k.name, priority: k.priority, defaults: k.defaults };
    },

    async addMembership(input: { environment: string; member: Member }): Promise<void> {
      const env = await environmentNode(input.environment);
      const other = (await registry.findByName(input.member.name))?.metadata[META.environment];
      if (other && other !== env.id) {
        const owner = await registry.find(String(other));
        throw new DeniedError('environment', `${input.member.name} already belongs to environment ${owner?.name ?? other}`);
      }
      const members = storedMembers(env);
      if (!members.some((m) => m.id === input.member.id)) {
        await registry.update(env.id, undefined, { metadata: { [META.members]: [...members, { id: input.member.id, kind: input.member.kind, priority: input.member.priority }] } });
      }
      await registry.update(input.member.id, undefined, { metadata: { [META.environment]: env.id } });
    },

    async removeMembership(input: { environment: string; containerId: string }): Promise<void> {
      const env = await environmentNode(input.environment);
      const members = storedMembers(env);
      if (members.some((m) => m.id === input.containerId)) {
        await registry.update(env.id, undefined, { metadata: { [META.members]: members.filter((m) => m.id !== input.containerId) } });
      }
      if (await registry.find(input.containerId)) await registry.update(input.containerId, undefined, { metadata: { [META.environment]: null } });
    },

    /** Calls one handler, with the environment as it is now, and records the call on the environment. */
    async runHook(call: HookCall): Promise<HookDecision> {
      const env = await view(call.environment);
      const kind = kinds.get(call.self.kind);
      const handler = kind.handlers[call.event];
      const self = env.members.find((m) => m.id === call.self.id) ?? call.self;
      await registry.recordEvent({
        nodeId: env.id,
        what: `hook ${call.event}`,
        why: `${self.name} (${kind.name}, priority ${kind.priority})${call.other ? ` about ${call.other.name}` : ''}`,
        by: 'environment',
        commandId: call.commandId,
        data: { event: call.event, container: self.name, kind: kind.name, priority: kind.priority, other: call.other?.name ?? null, handled: !!handler },
      });
      if (!handler) return { allow: true };
      return handler({
        event: call.event,
        environment: { id: env.id, name: env.name, members: env.members },
        self,
        other: call.other,
        cause: call.cause,
        configure: async (path, content) => {
          const node = await registry.get(self.id);
          if (!node.parentId) throw new NotFoundError('host of container', self.name);
          const host = hostRef(await registry.get(node.parentId));
          const driver = deps.drivers.forHost(host);
          if ((await driver.readConfig(host, self.name, path)) !== content) await driver.applyConfig(host, self.name, path, content);
        },
      });
    },

    /**
     * Runs a container command through the container's entity and waits for it. Idempotent by
     * command id: a retry follows the command already submitted.
     */
    async runContainerCommand(input: {
      commandId: string;
      container: string;
      command: ContainerCommand;
      args: CommandArgs[ContainerCommand];
      /** The environment that asks for it, if one does. */
      environment?: string;
      /** Who asks for it, when it is not an environment (a host failover). */
      requestedBy?: string;
      /** For destroy: succeed when the container is already gone. */
      ifExists?: boolean;
    }): Promise<CommandResult | null> {
      const workflowId = workflowIds.containerCommand(input.container, input.command, input.commandId);
      let handle = commands.handle(workflowId);
      try {
        await deps.temporal.workflow.getHandle(workflowId).describe();
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
        if (input.ifExists && !(await registry.findByName(input.container))) return null;
        handle = await commands.submit(input.container, input.command, input.args as never, input.requestedBy ?? `environment ${input.environment}`, {
          commandId: input.commandId,
          ...(input.environment ? { environment: input.environment } : {}),
        });
      }
      const ctx = Context.current();
      const beat = setInterval(() => ctx.heartbeat(), 1000);
      try {
        const cancelled = ctx.cancelled.catch(async () => {
          await handle.cancel();
          return handle.result();
        });
        return await Promise.race([handle.result(), cancelled]);
      } finally {
        clearInterval(beat);
      }
    },

    /** Marks a container lost (its host is down) or illegal (a stale copy the collector removes). */
    async markContainer(input: { container: string; state: 'lost' | 'illegal'; cause: string; commandId: string; replacedBy?: string; host?: string }): Promise<void> {
      const node = await registry.findByName(input.container);
      if (!node || node.state === input.state) return;
      // A `down` heard late: the container was already rebuilt elsewhere (a failover) and runs there.
      if (input.host && node.parentId && (await registry.find(node.parentId))?.name !== input.host) return;
      // The collector removes an illegal copy only once its replacement is seen alive.
      const replacedBy = input.replacedBy;
      await registry.update(node.id, undefined, {
        state: input.state,
        metadata: { [META.stateCause]: input.cause, [META.lastCommand]: input.commandId, ...(replacedBy ? { [META.replacedBy]: replacedBy } : {}) },
      });
      await registry.recordEvent({ nodeId: node.id, what: `state ${node.state} → ${input.state}`, why: input.cause, by: 'environment', commandId: input.commandId, data: {} });
    },

  };
}

export type EnvironmentActivities = ReturnType<typeof createEnvironmentActivities>;

export function deniedBy(member: Member, reason: string): DeniedError {
  return new DeniedError(`${member.name} (${member.kind})`, reason);
}
