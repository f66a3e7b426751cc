// The gatekeeper of what enters and leaves the cluster: validates a request against its schema
// (every problem at once), reserves its unique keys (allocating ip and mac when left out), and
// only then writes the node. A refused request writes nothing.
import { InvalidInputError, NotFoundError } from '../domain/errors';
import type { ProvisionedType } from '../domain/schemas';
import {
  ENVIRONMENT_STATE,
  META,
  keyOf,
  type ContainerDefinition,
  type EnvironmentDefinition,
  type HypervisorDefinition,
  type HypervisorState,
  type JsonObject,
  type NetworkDefinition,
  type NodeRecord,
} from '../domain/types';
import type { FieldProblem } from '../domain/errors';
import type { Registry } from '../registry/types';
import { allocateAddress, macForIp, parsePool, type AddressPool, type NetworkAddress } from './addresses';
import { requestProblems } from './validation';

export const DEFAULT_IP_POOL = '10.0.0.0/16';

export interface ProvisionerOptions {
  /** CIDR block containers get their address from when they do not bring one. Default 10.0.0.0/16. */
  readonly ipPool?: string;
  /** The container kinds a definition may name (src/hooks); any name when left out. */
  readonly kinds?: readonly string[];
}

export interface ProvisionHypervisorInput {
  readonly id?: string;
  readonly name: string;
  readonly definition: HypervisorDefinition;
  readonly tags?: Record<string, string>;
  /** Default `up`; the monitor corrects it after its first poll. */
  readonly state?: HypervisorState;
}

/** A container definition as requested: ip and mac may be left out and are then allocated. */
export interface ContainerDefinitionInput extends Omit<ContainerDefinition, 'network'> {
  readonly network?: Partial<NetworkDefinition>;
  /** Affinity group: counted as `group:<name>` in the container's `vmflow.groups`. */
  readonly group?: string;
}

export interface ProvisionContainerInput {
  readonly id?: string;
  readonly name: string;
  readonly definition: ContainerDefinitionInput;
  readonly tags?: Record<string, string>;
  /** Registers a container that already runs on this hypervisor (no capacity claim is made). */
  readonly parentId?: string;
  /** vmflow's own metadata to store with it (`vmflow.` keys only). */
  readonly metadata?: JsonObject;
}

export interface ProvisionEnvironmentInput {
  readonly id?: string;
  readonly name: string;
  readonly definition?: EnvironmentDefinition;
  readonly tags?: Record<string, string>;
}

export class Provisioner {
  readonly pool: AddressPool;
  private readonly kinds?: readonly string[];

  constructor(
    private readonly registry: Registry,
    options: ProvisionerOptions = {},
  ) {
    this.pool = parsePool(options.ipPool ?? DEFAULT_IP_POOL);
    if (options.kinds) this.kinds = [...options.kinds].sort();
  }

  /** Every problem of a request for a node of `type`; [] when it may be provisioned. */
  validate(type: string, input: unknown): FieldProblem[] {
    return requestProblems(type, input, this.kinds);
  }

  /** Provisions a node of any provisioned type; for callers that receive the type as data (API, CLI). */
  async provision(type: string, input: unknown): Promise<NodeRecord> {
    this.assertValid(type, input);
    switch (type as ProvisionedType) {
      case 'hypervisor':
        return this.provisionHypervisor(input as ProvisionHypervisorInput);
      case 'container':
        return this.provisionContainer(input as ProvisionContainerInput);
      case 'environment':
        return this.provisionEnvironment(input as ProvisionEnvironmentInput);
    }
    throw new InvalidInputError([{ field: 'type', problem: 'is not provisioned here' }]);
  }

  async provisionHypervisor(input: ProvisionHypervisorInput): Promise<NodeRecord> {
    this.assertValid('hypervisor', input);
    const { overcommit, ...rest } = input.definition;
    const definition: HypervisorDefinition = {
      ...rest,
      ...(overcommit ? { overcommit: { cpu: overcommit.cpu ?? 1, memory: overcommit.memory ?? 1, disk: overcommit.disk ?? 1 } } : {}),
    };
    return this.registry.add({
      ...(input.id !== undefined ? { id: input.id } : {}),
      type: 'hypervisor',
      name: input.name,
      definition,
      state: input.state ?? 'up',
      tags: input.tags ?? {},
    });
  }

  async provisionContainer(input: ProvisionContainerInput): Promise<NodeRecord> {
    this.assertValid('container', input);
    if (input.parentId !== undefined) {
      const parent = await this.registry.find(input.parentId);
      if (!parent) throw new NotFoundError('parent node', input.parentId);
      if (parent.type !== 'hypervisor') {
        throw new InvalidInputError([{ field: 'parentId', problem: `names ${withArticle(parent.type)}, not a hypervisor` }], `container ${input.name}`);
      }
    }
    const { network = {}, group, ...rest } = input.definition;
    const groups = [...(group ? [`group:${group}`] : []), ...(((input.metadata?.[META.groups] as string[] | undefined) ?? []))];
    const metadata: JsonObject = { ...(input.metadata ?? {}), ...(groups.length ? { [META.groups]: groups } : {}) };
    const add = (address: NetworkAddress) => {
      const definition: ContainerDefinition & { group?: string } = {
        ...rest,
        ...(group !== undefined ? { group } : {}),
        network: { ...network, ip: address.ip, mac: address.mac.toLowerCase() },
      };
      return this.registry.add({
        ...(input.id !== undefined ? { id: input.id } : {}),
        type: 'container',
        name: input.name,
        definition,
        state: 'new',
        metadata,
        tags: input.tags ?? {},
        parentId: input.parentId ?? null,
        keys: [keyOf.ip(address.ip), keyOf.mac(address.mac)],
      });
    };
    if (network.ip) return add({ ip: network.ip, mac: network.mac ?? macForIp(network.ip) });
    // A retry with a known id returns the stored node, whatever address it would try now: the
    // registry's add returns it when the id is taken by the same node, without a read first here.
    try {
      return await allocateAddress(this.registry, this.pool, add, network.mac ? { mac: network.mac } : {});
    } catch (err) {
      if (input.id === undefined) throw err;
      const existing = await this.registry.find(input.id);
      if (existing && existing.type === 'container' && existing.name === input.name) return existing;
      throw err;
    }
  }

  async provisionEnvironment(input: ProvisionEnvironmentInput): Promise<NodeRecord> {
    this.assertValid('environment', input);
    return this.registry.add({
      ...(input.id !== undefined ? { id: input.id } : {}),
      type: 'environment',
      name: input.name,
      definition: input.definition ?? {},
      state: ENVIRONMENT_STATE,
      tags: input.tags ?? {},
    });
  }

  /** Removes a node and its keys; refuses (HasChildrenError) while it has children. */
  async deprovision(id: string): Promise<void> {
    await this.registry.remove(id);
  }

  private assertValid(type: string, input: unknown): void {
    const problems = this.validate(type, input);
    if (problems.length) throw new InvalidInputError(problems, subject(type, input));
  }
}

function subject(type: string, input: unknown): string {
  const name = (input as { name?: unknown } | null)?.name;
  return typeof name === 'string' && name ? `${type} ${name}` : type;
}

function withArticle(word: string): string {
  return `${/^[aeiou]/.test(word) ? 'an' : 'a'} ${word}`;
}
