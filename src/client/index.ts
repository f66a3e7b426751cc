// The TypeScript client: one entry point, `connect(options)`. Reads come from the registry;
// commands go to Temporal and return handles.
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { CloneArgs, CreateArgs, MigrateArgs, UpdateArgs } from '../domain/commands';
import { InvalidInputError, InvalidTransitionError, KeyConflictError, NotFoundError, unwrapError } from '../domain/errors';
import { TASK_QUEUE, workflowIds } from '../domain/names';
import { keyOf, type ContainerDefinition, type HypervisorDefinition, type NodeRecord } from '../domain/types';
import { Kinds } from '../hooks';
import { Provisioner, macForIp } from '../provisioner';
import { openRegistry } from '../registry';
import type { NodeQuery, Registry } from '../registry/types';
import { CommandHandle, ContainerCommands, EnvironmentCommands } from './commands';
import { Info } from './info';
import type { EnvironmentArgs } from '../domain/environments';
import type { HypervisorDefinitionInput } from '../domain/schemas';
import { META, type EnvironmentDefinition } from '../domain/types';

export { CommandHandle };
export type { CommandFilter, CommandInfo, CommandSummary } from './commands';

export interface ConnectOptions {
  readonly temporalAddress?: string;
  readonly namespace?: string;
  /** Registry database URL; or pass an open `registry`. */
  readonly registryUrl?: string;
  readonly registry?: Registry;
  readonly connection?: Connection;
  /** Recorded on every command as who asked for it. */
  readonly identity?: string;
  /** The container kinds definitions may name: those the workers run. Default: the built-in kinds. */
  readonly kinds?: Kinds;
}

const NAME = /^[a-z0-9][a-z0-9-_.]{0,62}$/;

function checkName(field: string, name: unknown): asserts name is string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new InvalidInputError([{ field, problem: 'must be 1-63 characters of a-z, 0-9, - _ . starting with a letter or digit' }]);
  }
}

async function nameIsFree(registry: Registry, name: string): Promise<void> {
  const owner = await registry.findByName(name);
  if (owner) throw new KeyConflictError(keyOf.name(name), owner.id, owner.name);
}

/**
 * Refuses at submission an ip or mac another node owns (with the mac an ip implies when none is
 * given), so the command is never started. Two submissions racing for the same address both pass
 * here; the registry lets only one of them register it.
 */
async function addressesAreFree(registry: Registry, network: { readonly ip?: string | undefined; readonly mac?: string | undefined } | undefined): Promise<void> {
  const keys: string[] = [];
  if (network?.ip) keys.push(keyOf.ip(network.ip));
  const mac = network?.mac ?? (network?.ip ? macForIp(network.ip) : undefined);
  if (mac) keys.push(keyOf.mac(mac));
  for (const key of keys) {
    const owner = await registry.findByKey(key);
    if (owner) throw new KeyConflictError(key, owner.id, owner.name);
  }
}

/** Refuses a new container's definition with every problem at once; stand-in addresses fill an ip or mac left out, which is allocated later. */
function checkNewDefinition(provisioner: Provisioner, name: string, definition: CreateArgs['definition'] | undefined, subject: string): void {
  const network = { ip: '10.255.255.254', mac: '02:00:00:00:00:00', ...(definition?.network ?? {}) };
  const problems = provisioner.validate('container', { name, definition: { ...(definition ?? {}), network } });
  if (problems.length) throw new InvalidInputError(problems, subject);
}

export class Vmflow {
  readonly containers: Containers;
  readonly hypervisors: Hypervisors;
  readonly nodes: Nodes;
  readonly environments: Environments;
  readonly commands: ContainerCommands;
  /** Agent (per host) and controller information. */
  readonly info: Info;

  constructor(
    readonly temporal: Client,
    readonly registry: Registry,
    private readonly owned: { connection?: Connection; registry?: Registry },
    readonly identity?: string,
    /** The container kinds a definition may name. */
    readonly kinds: Kinds = new Kinds(),
  ) {
    const provisioner = new Provisioner(registry, { kinds: kinds.names() });
    this.commands = new ContainerCommands(temporal, registry);
    this.nodes = new Nodes(registry);
    this.containers = new Containers(this.commands, registry, provisioner, identity);
    this.hypervisors = new Hypervisors(temporal, registry, provisioner);
    this.environments = new Environments(new EnvironmentCommands(temporal, registry), registry, provisioner, identity);
    this.info = new Info(temporal, registry);
  }

  async close(): Promise<void> {
    await this.owned.connection?.close();
    await this.owned.registry?.close();
  }
}

export class Nodes {
  constructor(private readonly registry: Registry) {}
  /** By name, id or any unique key (`ip:10.0.0.5`). */
  async get(ref: string): Promise<NodeRecord> {
    const node = ref.includes(':') ? await this.registry.findByKey(ref) : ((await this.registry.findByName(ref)) ?? (await this.registry.find(ref)));
    if (!node) throw new NotFoundError('node', ref);
    return node;
  }
  list(query?: NodeQuery): Promise<NodeRecord[]> {
    return this.registry.list(query);
  }
  children(id: string): Promise<NodeRecord[]> {
    return this.registry.children(id);
  }
  /** Who owns a unique key. */
  async owner(key: string): Promise<NodeRecord> {
    const node = await this.registry.findByKey(key);
    if (!node) throw new NotFoundError('key', key);
    return node;
  }
}

export class Containers {
  constructor(
    private readonly commands: ContainerCommands,
    private readonly registry: Registry,
    private readonly provisioner: Provisioner,
    private readonly identity?: string,
  ) {}

  async get(name: string): Promise<NodeRecord<ContainerDefinition>> {
    const node = await this.registry.findByName(name);
    if (!node || node.type !== 'container') throw new NotFoundError('container', name);
    return node as NodeRecord<ContainerDefinition>;
  }

  list(query: Omit<NodeQuery, 'type'> = {}): Promise<NodeRecord[]> {
    return this.registry.list({ ...query, type: 'container' });
  }

  /**
   * Creates a container; ip and mac are allocated when not given. Validated before anything is
   * sent: a bad definition is InvalidInputError, a taken name, ip or mac KeyConflictError.
   */
  async create(name: string, args: CreateArgs): Promise<CommandHandle> {
    checkName('name', name);
    checkNewDefinition(this.provisioner, name, args?.definition, 'container definition');
    await nameIsFree(this.registry, name);
    await addressesAreFree(this.registry, args.definition.network);
    return this.commands.submit(name, 'create', args, this.identity);
  }

  start(name: string) {
    return this.commands.submit(name, 'start', {}, this.identity);
  }
  stop(name: string) {
    return this.commands.submit(name, 'stop', {}, this.identity);
  }
  shutdown(name: string, timeoutMs?: number) {
    return this.commands.submit(name, 'shutdown', timeoutMs === undefined ? {} : { timeoutMs }, this.identity);
  }
  reboot(name: string) {
    return this.commands.submit(name, 'reboot', {}, this.identity);
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
  /** Asks every host where the container is and makes the registry follow (the way out of `unknown` and `missing`). */
  async reconcile(name: string): Promise<CommandHandle> {
    return this.commands.submit(name, 'reconcile', {}, this.identity);
  }


  async update(name: string, args: UpdateArgs): Promise<CommandHandle> {
    const current = await this.get(name);
    const merged = { ...current.definition, ...(args?.definition ?? {}), kind: current.definition.kind, network: current.definition.network };
    const problems = this.provisioner.validate('container', { name, definition: merged });
    if (problems.length) throw new InvalidInputError(problems, 'container definition');
    return this.commands.submit(name, 'update', args, this.identity);
  }

  async clone(name: string, args: CloneArgs): Promise<CommandHandle> {
    const source = await this.get(name);
    checkName('clone name', args?.name);
    await nameIsFree(this.registry, args.name);
    const network = { ...source.definition.network, ip: args.ip ?? '10.255.255.254', mac: args.mac ?? '02:00:00:00:00:00' };
    const problems = this.provisioner.validate('container', { name: args.name, definition: { ...source.definition, network } });
    if (problems.length) throw new InvalidInputError(problems, 'clone');
    await addressesAreFree(this.registry, { ip: args.ip, mac: args.mac });
    if (args.hint) await this.hostExists(args.hint);
    return this.commands.submit(name, 'clone', args, this.identity);
  }

  async migrate(name: string, args: MigrateArgs = {}): Promise<CommandHandle> {
    const node = await this.get(name);
    if (args.target) {
      const host = await this.hostExists(args.target);
      if (host.id === node.parentId) throw new InvalidInputError([{ field: 'target', problem: `${name} is already on ${host.name}` }]);
    }
    return this.commands.submit(name, 'migrate', args, this.identity);
  }

  private async hostExists(ref: string): Promise<NodeRecord> {
    const host = (await this.registry.findByName(ref)) ?? (await this.registry.find(ref).catch(() => undefined));
    if (!host || host.type !== 'hypervisor') throw new NotFoundError('hypervisor', ref);
    return host;
  }
}

export class Hypervisors {
  constructor(
    private readonly temporal: Client,
    private readonly registry: Registry,
    private readonly provisioner: Provisioner,
  ) {}

  /** Adds a host through the addHypervisor workflow: validated, registered, probed. */
  async add(name: string, definition: HypervisorDefinitionInput, tags?: Record<string, string>): Promise<NodeRecord<HypervisorDefinition>> {
    return (await this.startAdd(name, definition, tags)).result();
  }

  /**
   * Starts the addHypervisor workflow and returns at once: `result()` waits for the host to be
   * registered and probed (a probe of a host that does not answer retries for minutes).
   */
  async startAdd(
    name: string,
    definition: HypervisorDefinitionInput,
    tags?: Record<string, string>,
  ): Promise<{ readonly workflowId: string; result(): Promise<NodeRecord<HypervisorDefinition>> }> {
    checkName('name', name);
    const problems = this.provisioner.validate('hypervisor', { name, definition });
    if (problems.length) throw new InvalidInputError(problems, 'hypervisor definition');
    try {
      const handle = await this.temporal.workflow.start('addHypervisor', {
        taskQueue: TASK_QUEUE,
        workflowId: workflowIds.hypervisorCommand(name, 'add', randomUUID()),
        args: [{ name, definition, tags }],
        staticSummary: `add hypervisor ${name} (${definition.driver} at ${definition.address})`,
      });
      return {
        workflowId: handle.workflowId,
        result: () => handle.result().catch((err) => Promise.reject(unwrapError(err))) as Promise<NodeRecord<HypervisorDefinition>>,
      };
    } catch (err) {
      throw unwrapError(err);
    }
  }

  async get(ref: string): Promise<NodeRecord<HypervisorDefinition>> {
    const node = (await this.registry.findByName(ref)) ?? (await this.registry.find(ref).catch(() => undefined));
    if (!node || node.type !== 'hypervisor') throw new NotFoundError('hypervisor', ref);
    return node as NodeRecord<HypervisorDefinition>;
  }

  list(): Promise<NodeRecord[]> {
    return this.registry.list({ type: 'hypervisor' });
  }

  /** Containers and placeholders on a host. */
  async children(ref: string): Promise<NodeRecord[]> {
    return this.registry.children((await this.get(ref)).id);
  }

  usage(ref: string) {
    return this.get(ref).then((h) => this.registry.usage(h.id));
  }

  /**
   * Stops placing new containers on a host: its state becomes `draining`, which the allocator
   * skips. What runs there stays; migrate it away, then remove the host.
   */
  async drain(ref: string, reason = 'drained by an operator'): Promise<NodeRecord<HypervisorDefinition>> {
    const host = await this.get(ref);
    if (host.state === 'draining') return host;
    return (await this.registry.update(host.id, undefined, { state: 'draining', metadata: { [META.stateCause]: reason } })) as NodeRecord<HypervisorDefinition>;
  }

  /** Takes a draining host back into placement. A host that is down stays down until it answers. */
  async undrain(ref: string): Promise<NodeRecord<HypervisorDefinition>> {
    const host = await this.get(ref);
    if (host.state === 'up') return host;
    if (host.state !== 'draining') throw new InvalidTransitionError('undrain', host.name, host.state, `it is ${host.state}, not draining; the monitor marks it up when it answers`);
    return (await this.registry.update(host.id, undefined, { state: 'up', metadata: { [META.stateCause]: null } })) as NodeRecord<HypervisorDefinition>;
  }

  /** Deprovisions a host: removes it and its keys from the registry. Refused while anything is on it. */
  async remove(ref: string): Promise<void> {
    const host = await this.get(ref);
    const children = await this.registry.children(host.id);
    if (children.length) {
      const containers = children.filter((c) => c.type === 'container').length;
      throw new InvalidTransitionError(
        'remove',
        host.name,
        host.state,
        `it still has ${containers} container(s) and ${children.length - containers} placeholder(s); drain it and migrate or destroy them first`,
      );
    }
    await this.provisioner.deprovision(host.id);
  }
}

export interface EnvironmentMember {
  readonly id: string;
  readonly name: string;
  readonly kind: string;
  readonly priority: number;
  readonly state: string;
  readonly ip: string;
  readonly host?: string;
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

export async function connect(options: ConnectOptions = {}): Promise<Vmflow> {
  const connection = options.connection ?? (await Connection.connect({ address: options.temporalAddress ?? '127.0.0.1:7233' }));
  let registry = options.registry;
  let ownedRegistry: Registry | undefined;
  if (!registry) {
    if (!options.registryUrl) throw new InvalidInputError([{ field: 'registryUrl', problem: 'is required when no registry is passed' }], 'connect options');
    registry = ownedRegistry = await openRegistry({ url: options.registryUrl });
  }
  const temporal = new Client({ connection, namespace: options.namespace ?? 'default', identity: options.identity });
  return new Vmflow(temporal, registry, { connection: options.connection ? undefined : connection, registry: ownedRegistry }, options.identity, options.kinds);
}
