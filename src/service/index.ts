// The service layer: every read and every command of vmflow, over an open registry and a
// Temporal client. The REST API, the worker's activities and the TypeScript client all use it;
// none of them submits a command or reads the registry for users any other way.
import type { Client } from '@temporalio/client';
import { Kinds } from '../hooks';
import { Provisioner } from '../provisioner';
import type { Registry } from '../registry/types';
import { ContainerCommands, EnvironmentCommands } from './commands';
import { Containers } from './containers';
import { Environments } from './environments';
import { Hypervisors } from './hypervisors';
import { Info } from './info';
import { Nodes } from './nodes';

export { CommandHandle, ContainerCommands, EnvironmentCommands, commandQuery } from './commands';
export type { CommandFilter, CommandInfo, CommandSummary } from './commands';
export type { ContainerFiles, ContainerPageQuery } from './containers';
export type { Page } from './paging';
export type { EnvironmentMember } from './environments';
export type { CommandStats, ControllerInfo, HostInfo } from './info';
export { Containers, Environments, Hypervisors, Info, Nodes };

export class VmflowService {
  readonly containers: Containers;
  readonly hypervisors: Hypervisors;
  readonly nodes: Nodes;
  readonly environments: Environments;
  readonly commands: ContainerCommands;
  /** Agent (per host) and controller information. */
  readonly info: Info;

  /** `identity` is recorded on every command as who asked for it. */
  constructor(
    readonly temporal: Client,
    readonly registry: Registry,
    readonly identity?: string,
    /** The container kinds a definition may name. */
    readonly kinds: Kinds = new Kinds(),
  ) {
    const provisioner = new Provisioner(registry, { kinds: kinds.names() });
    this.commands = new ContainerCommands(temporal, registry);
    this.nodes = new Nodes(registry);
    this.containers = new Containers(this.commands, registry, provisioner, identity, temporal);
    this.hypervisors = new Hypervisors(temporal, registry, provisioner);
    this.environments = new Environments(new EnvironmentCommands(temporal, registry), registry, provisioner, identity);
    this.info = new Info(temporal, registry);
  }
}
