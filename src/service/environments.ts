// Environments: members read from the registry; commands submitted to the environment's entity.
import type { EnvironmentArgs } from '../domain/environments';
import { NotFoundError } from '../domain/errors';
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

  async create(name: string, args: EnvironmentArgs['create'] = {}) {
    checkName('name', name);
    await nameIsFree(this.registry, name);
    return this.commands.submit(name, 'create', args, this.identity);
  }
  /**
   * Adds an existing container (`{ container }`) or a new one (`{ create: { name, definition } }`).
   * A new one is checked as a create is: its definition, and its name, ip and mac not taken.
   */
  async add(name: string, args: EnvironmentArgs['add']) {
    if (args?.create) {
      checkName('create.name', args.create.name);
      checkNewDefinition(this.provisioner, args.create.name, args.create.definition, `member ${args.create.name}`);
      await nameIsFree(this.registry, args.create.name);
      await addressesAreFree(this.registry, args.create.definition.network);
    }
    return this.commands.submit(name, 'add', args, this.identity);
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
