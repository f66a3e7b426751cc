// Containers: reads from the registry; commands validated here, then submitted to their entity;
// config files read through the container's host driver.
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { ContainerFileListing } from '../../activities/hosts';
import type { CloneArgs, CreateArgs, MigrateArgs, UpdateArgs } from '../domain/commands';
import { InvalidInputError, InvalidTransitionError, NotFoundError, unwrapError } from '../domain/errors';
import { TASK_QUEUE } from '../domain/names';
import { hostRef } from '../drivers/refs';
import { resourcesOf, type ContainerDefinition, type NodeRecord } from '../domain/types';
import { noCapacityError, place } from '../allocator';
import type { Provisioner } from '../provisioner';
import type { NodeQuery, Registry } from '../registry/types';
import type { CommandHandle, ContainerCommands } from './commands';
import { addressesAreFree, checkName, checkNewDefinition, nameIsFree } from './names';
import { afterOf, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, tokenAfter, type Page } from './paging';

/** Which containers to list, and which page of them. */
export type ContainerPageQuery = Omit<NodeQuery, 'type' | 'after' | 'limit' | 'offset'> & {
  /** At most this many (1 to 1000, default 100). */
  readonly limit?: number;
  /** The previous page's `nextPageToken`; the first page without it. */
  readonly pageToken?: string;
};

/** A config file path as a container's files are named: absolute, no `.` or `..` parts, at most 1024 characters. */
function isFilePath(path: string): boolean {
  return path.startsWith('/') && path.length <= 1024 && !path.includes('\0') && !path.split('/').some((part) => part === '.' || part === '..');
}

/** A container's config files, and one file's content when one was read. */
export interface ContainerFiles {
  readonly container: string;
  readonly host: string;
  readonly paths: string[];
  readonly file?: { readonly path: string; readonly content: string };
}

export class Containers {
  constructor(
    private readonly commands: ContainerCommands,
    private readonly registry: Registry,
    private readonly provisioner: Provisioner,
    private readonly identity?: string,
    private readonly temporal?: Client,
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
   * One page of containers, by name. Paged by key, not by offset: a page costs the same however
   * deep, and containers created or destroyed between pages neither repeat nor hide the others.
   */
  async page(query: ContainerPageQuery = {}): Promise<Page<NodeRecord>> {
    const { pageToken, limit: asked, ...filter } = query;
    if (asked !== undefined && !(Number.isInteger(asked) && asked >= 1 && asked <= MAX_PAGE_SIZE))
      throw new InvalidInputError([{ field: 'limit', problem: `must be an integer from 1 to ${MAX_PAGE_SIZE}` }], 'page');
    const limit = asked ?? DEFAULT_PAGE_SIZE;
    // One more than asked: whether a next page exists, without an empty last page.
    const rows = await this.registry.list({ ...filter, type: 'container', limit: limit + 1, ...(pageToken ? { after: afterOf(pageToken) } : {}) });
    const items = rows.slice(0, limit);
    return rows.length > limit ? { items, nextPageToken: tokenAfter(items[items.length - 1]!.name) } : { items };
  }

  /**
   * The config files a container exposes (what its hooks wrote into it, such as a balancer's
   * upstream file) and, with `path`, that file's content, read through its host's driver (on the
   * host's agent when it has one). A path that is not one of its files is NotFoundError naming
   * the path and the files there are; a container without a host is InvalidTransitionError.
   */
  async files(name: string, path?: string): Promise<ContainerFiles> {
    if (path !== undefined && !isFilePath(path)) {
      throw new InvalidInputError([{ field: 'path', problem: `${JSON.stringify(path)} is not a file path inside a container: absolute, without . or .. parts, at most 1024 characters` }], 'file read');
    }
    const node = await this.get(name);
    if (!node.parentId) throw new InvalidTransitionError('read files of', name, node.state, 'it is on no host');
    const host = hostRef(await this.registry.get(node.parentId));
    if (!this.temporal) throw new Error('reading config files needs a Temporal client');
    let listing: ContainerFileListing;
    try {
      listing = await this.temporal.workflow.execute('readContainerFiles', {
        taskQueue: TASK_QUEUE,
        workflowId: `files/${name}/${randomUUID()}`,
        workflowExecutionTimeout: '1 minute',
        args: [{ host, name, ...(path !== undefined ? { path } : {}) }],
        staticSummary: `read ${path ?? 'the config files'} of ${name} on ${host.name}`,
      });
    } catch (err) {
      throw unwrapError(err);
    }
    const base = { container: name, host: host.name, paths: listing.paths };
    if (path === undefined) return base;
    if (typeof listing.content !== 'string') throw new NotFoundError('config file', `${path} in ${name} (its files: ${listing.paths.join(', ') || 'none'})`);
    return { ...base, file: { path, content: listing.content } };
  }

  /**
   * Creates a container; ip and mac are allocated when not given. Validated before anything is
   * sent: a bad definition is InvalidInputError, a taken name, ip or mac KeyConflictError; with
   * `refuseWithoutRoom`, a container no host has room for now is NoCapacityError (checkRoom).
   */
  async create(name: string, args: CreateArgs, options: { refuseWithoutRoom?: boolean } = {}): Promise<CommandHandle> {
    checkName('name', name);
    checkNewDefinition(this.provisioner, name, args?.definition, 'container definition');
    await nameIsFree(this.registry, name);
    await addressesAreFree(this.registry, args.definition.network);
    if (options.refuseWithoutRoom) await this.checkRoom(name, args);
    return this.commands.submit(name, 'create', args, this.identity);
  }

  /**
   * Refuses a create that no host could take now: NoCapacityError with the allocator's rejection
   * counts, from a fresh read of every host. A create that passes may still lose its room to
   * another command before its claim; its command then fails with the same error.
   */
  async checkRoom(name: string, args: CreateArgs): Promise<void> {
    const request = {
      name,
      resources: resourcesOf(args.definition),
      ...(args.definition.requires ? { requires: args.definition.requires } : {}),
      ...(args.hint ? { hint: args.hint } : {}),
      ...(args.groups ? { groups: args.groups } : {}),
      ...(args.antiAffinity ? { antiAffinity: args.antiAffinity } : {}),
    };
    const placement = place(await this.registry.hostSnapshot(), request);
    if (!placement.host) throw noCapacityError(request, placement);
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
  reconcile(name: string) {
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
