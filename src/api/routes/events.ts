// Event histories: every state change the registry recorded on a node — what, why, by whom
// (monitor, collector, a command, the environment's hooks) and which command — newest first.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { NodeRecord } from '../../domain/types';
import type { ApiContext } from '../context';
import { route } from '../route';
import { RefParams, listOf } from '../schemas';

const EventResource = Type.Object({
  id: Type.Integer(),
  at: Type.String({ description: 'ISO 8601 UTC time' }),
  what: Type.String({ description: 'what changed: "state running → lost", "hook afterOtherIsAdded", ...' }),
  why: Type.String({ description: 'the cause, in a sentence' }),
  by: Type.String({ description: 'monitor, collector, environment, or the command that made the change' }),
  commandId: Type.Union([Type.String(), Type.Null()]),
  data: Type.Object({}, { additionalProperties: true }),
});

const EventQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) }, { additionalProperties: false });

const OWNERS: ReadonlyArray<{ type: NodeRecord['type']; path: string; tag: string }> = [
  { type: 'container', path: 'containers', tag: 'containers' },
  { type: 'environment', path: 'environments', tag: 'environments' },
  { type: 'hypervisor', path: 'hypervisors', tag: 'hypervisors' },
];

export function eventRoutes(app: FastifyInstance, ctx: ApiContext): void {
  for (const owner of OWNERS) {
    route(app, {
      method: 'GET',
      url: `/v1/${owner.path}/:ref/events`,
      role: 'viewer',
      tag: owner.tag,
      summary:
        owner.type === 'environment'
          ? "An environment's event history, newest first: its hook calls in priority order (the hook log) and its state changes"
          : `A ${owner.type}'s event history, newest first: state changes with their cause (a command, drift seen by the monitor, failover, the collector)`,
      params: RefParams,
      querystring: EventQuery,
      response: { 200: listOf(EventResource) },
      handler: async (req) => {
        const node = await ctx.node(owner.type, req.params.ref);
        const items = await ctx.client.registry.events(node.id, req.query.limit ?? 100);
        return { items: items.map(({ nodeId: _, ...e }) => e), total: items.length };
      },
    });
  }
}
