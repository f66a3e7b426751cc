// Environments: members read from the registry; commands submitted to the environment's entity.
import type { EnvironmentArgs, NewMember } from '../domain/environments';
import { InvalidInputError, NotFoundError } from '../domain/errors';
import { META, type ContainerDefinition, type EnvironmentDefinition, type NodeRecord } from '../domain/types';
import type { Registry } from '../registry/types';
import type { CommandHandle, EnvironmentCommands } from './commands';
import type { Provisioner } from '../provisioner';
import { addressesAreFree, checkName, checkNewDefinition, nameIsFree } from './names';

export interface EnvironmentMember {
  readonly id: string;
  readonly name: string;
  readonly kind: string;
  readonly priority: number;
  readonly state: string;
  readonly ip: string;
  readonly host?: string;
}

/**
 * What an environment is doing, read from its members: `running`, `stopped` or `suspended` when
 * every member is; `degraded` when one is lost, missing, unknown or illegal; `mixed` otherwise;
 * `empty` without members. The registry keeps only the environment's lifecycle (`active`), which
 * no power command changes.
 */
export type EnvironmentPowerState = 'empty' | 'running' | 'stopped' | 'suspended' | 'mixed' | 'degraded';

export function environmentState(memberStates: readonly string[]): EnvironmentPowerState {
  if (!memberStates.length) return 'empty';
  if (memberStates.some((s) => s === 'lost' || s === 'missing' || s === 'unknown' || s === 'illegal')) return 'degraded';
  const first = memberStates[0]!;
  if ((first === 'running' || first === 'stopped' || first === 'suspended') && memberStates.every((s) => s === first)) return first;
  return 'mixed';
}

/** Member ids of an environment node, as its metadata lists them. */
export function memberIds(env: NodeRecord): string[] {
  return ((env.metadata[META.members] as Array<{ id: string }> | undefined) ?? []).map((m) => m.id);
}

export class Environments {
  constructor(
    private readonly commands: EnvironmentCommands,
    private readonly registry: Registry,
    private readonly provisioner: Provisioner,
    private readonly identity?: string,
  ) {}

  async get(name: string): Promise<NodeRecord<EnvironmentDefinition>> {
    const node = await this.registry.findByName(name);
    if (!node || node.type !== 'environment') throw new NotFoundError('environment', name);
    return node as NodeRecord<EnvironmentDefinition>;
  }

  list(): Promise<NodeRecord[]> {
    return this.registry.list({ type: 'environment' });
  }

  /** The state of each environment (by id) from its members' states: see environmentState. */
  async states(envs: readonly NodeRecord[]): Promise<Map<string, EnvironmentPowerState>> {
    const ids = [...new Set(envs.flatMap(memberIds))];
    const nodes = ids.length ? await this.registry.list({ ids }) : [];
    const stateOf = new Map(nodes.map((n) => [n.id, n.state]));
    return new Map(envs.map((e) => [e.id, environmentState(memberIds(e).flatMap((id) => (stateOf.has(id) ? [stateOf.get(id)!] : [])))]));
  }

  /** Its members, lowest priority first, as the registry has them now. */
  async members(name: string): Promise<EnvironmentMember[]> {
    const env = await this.get(name);
    const stored = (env.metadata[META.members] as Array<{ id: string; kind: string; priority: number }> | undefined) ?? [];
    const out: EnvironmentMember[] = [];
    for (const m of stored) {
      const node = (await this.registry.find(m.id)) as NodeRecord<ContainerDefinition> | undefined;
      if (!node) continue;
      const host = node.parentId ? await this.registry.find(node.parentId) : undefined;
      out.push({ id: node.id, name: node.name, kind: m.kind, priority: m.priority, state: node.state, ip: node.definition.network.ip, host: host?.name });
    }
    return out.sort((a, b) => a.priority - b.priority || a.name.localeCompare(b.name));
  }

  /**
   * Creates an environment, with new members when `members` names them: they are placed all or
   * nothing (every one gets room, or the create fails with the member that did not fit and
   * nothing claimed). Each member is checked as an add's new container is, and none may share a
   * name, ip or mac with another.
   */
  async create(name: string, args: EnvironmentArgs['create'] = {}) {
    checkName('name', name);
    await nameIsFree(this.registry, name);
    if (args.members !== undefined) {
      if (!Array.isArray(args.members)) throw new InvalidInputError([{ field: 'members', problem: 'must be an array of new members (name and definition)' }]);
      const names = new Set<string>([name]);
      const addresses = new Map<string, string>();
      for (const [i, member] of args.members.entries()) {
        await this.checkNewMember(member, `members[${i}]`);
        if (names.has(member.name)) throw new InvalidInputError([{ field: `members[${i}].name`, problem: `${member.name} is named twice` }]);
        names.add(member.name);
        for (const address of [member.definition.network?.ip, member.definition.network?.mac]) {
          if (!address) continue;
          const other = addresses.get(address);
          if (other) throw new InvalidInputError([{ field: `members[${i}].definition.network`, problem: `${address} is also ${other}'s` }]);
          addresses.set(address, member.name);
        }
      }
    }
    return this.commands.submit(name, 'create', args, this.identity);
  }
  /**
   * Adds an existing container (`{ container }`) or a new one (`{ create: { name, definition } }`).
   * A new one is checked as a create is: its definition, and its name, ip and mac not taken.
   */
  async add(name: string, args: EnvironmentArgs['add']) {
    if (args?.create) await this.checkNewMember(args.create, 'create');
    return this.commands.submit(name, 'add', args, this.identity);
  }
  private async checkNewMember(member: NewMember, field: string): Promise<void> {
    if (typeof member !== 'object' || member === null) throw new InvalidInputError([{ field, problem: 'must have a name and a definition' }]);
    checkName(`${field}.name`, member.name);
    checkNewDefinition(this.provisioner, member.name, member.definition, `member ${member.name}`);
    await nameIsFree(this.registry, member.name);
    await addressesAreFree(this.registry, member.definition.network);
  }
  remove(name: string, container: string, options: { destroy?: boolean } = {}) {
    return this.commands.submit(name, 'remove', { container, ...options }, this.identity);
  }
  start(name: string) {
    return this.commands.submit(name, 'start', {}, this.identity);
  }
  stop(name: string) {
    return this.commands.submit(name, 'stop', {}, this.identity);
  }
  suspend(name: string) {
    return this.commands.submit(name, 'suspend', {}, this.identity);
  }
  resume(name: string) {
    return this.commands.submit(name, 'resume', {}, this.identity);
  }
  destroy(name: string) {
    return this.commands.submit(name, 'destroy', {}, this.identity);
  }
  /** Marks a member down with a cause and runs the isDown hooks (a balancer is replaced). */
  down(name: string, container: string, cause: string) {
    return this.commands.submit(name, 'down', { container, cause }, this.identity);
  }
  up(name: string, container: string) {
    return this.commands.submit(name, 'up', { container }, this.identity);
  }
  /** Tells every environment the controller started (or is about to stop): kinds re-register or drain. */
  async controller(event: 'afterControllerStart' | 'beforeControllerStop'): Promise<CommandHandle<unknown>[]> {
    const envs = await this.list();
    return Promise.all(envs.map((e) => this.commands.submit(e.name, 'controller', { event }, this.identity)));
  }
}
