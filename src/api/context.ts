// What every route handler works with.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CommandHandle, VmflowService } from '../service';
import type { TokenStore } from '../auth';
import type { Config } from '../config';
import { NotFoundError } from '../domain/errors';
import { META, type NodeRecord } from '../domain/types';
import { commandLogger, type Logger } from '../log';
import type { ApiMetrics } from '../metrics';
import { accepted, href } from './present';

export type ApiConfig = Pick<Config, 'webUiUrl' | 'namespace' | 'temporalAddress' | 'apiBodyLimit' | 'apiAnonymousRole' | 'registryUrl'>;

export class ApiContext {
  readonly startedAt = new Date();

  constructor(
    readonly client: VmflowService,
    readonly tokens: TokenStore,
    readonly config: ApiConfig,
    readonly metrics: ApiMetrics,
    readonly log: Logger,
  ) {}

  /** Answers 202 for an accepted command, counts it and logs it with its ids. */
  accepted(request: FastifyRequest, reply: FastifyReply, handle: CommandHandle<unknown>) {
    this.metrics.commandSubmitted(handle.command, handle.kind, request.principal?.name ?? 'anonymous');
    commandLogger(request.log, handle).info({ by: request.principal?.name }, `accepted ${handle.kind} command ${handle.command} ${handle.target}`);
    reply.status(202).header('location', href.command(handle.workflowId));
    return accepted(handle, this.config.webUiUrl, this.config.namespace);
  }

  /** A node of `type` by name or id. */
  async node(type: NodeRecord['type'], ref: string): Promise<NodeRecord> {
    const registry = this.client.registry;
    const node = (await registry.findByName(ref)) ?? (/^[0-9a-f-]{36}$/.test(ref) ? await registry.find(ref) : undefined);
    if (!node || node.type !== type) throw new NotFoundError(type, ref);
    return node;
  }

  /** The name of a node of `type` given by name or id. */
  async name(type: NodeRecord['type'], ref: string): Promise<string> {
    return (await this.node(type, ref)).name;
  }

  /** Names of the hosts and environments `containers` link to, by id. */
  async linkNames(containers: readonly NodeRecord[]): Promise<Map<string, string>> {
    const ids = new Set<string>();
    for (const c of containers) {
      if (c.parentId) ids.add(c.parentId);
      if (typeof c.metadata[META.environment] === 'string') ids.add(c.metadata[META.environment] as string);
    }
    const nodes = ids.size ? await this.client.registry.list({ ids: [...ids] }) : [];
    return new Map(nodes.map((n) => [n.id, n.name]));
  }
}
