// Unique keys: who owns `ip:10.0.0.5`.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ApiContext } from '../context';
import { nodeHref } from '../present';
import { route } from '../route';
import { KeyParams, NodeLink } from '../schemas';

export function keyRoutes(app: FastifyInstance, ctx: ApiContext): void {
  route(app, {
    method: 'GET',
    url: '/v1/keys/:key',
    role: 'viewer',
    tag: 'keys',
    summary: 'The node that owns a unique key (ip:10.0.0.5, mac:..., name:web1)',
    params: KeyParams,
    response: { 200: Type.Object({ key: Type.String(), owner: NodeLink }) },
    handler: async (req) => {
      const { key } = req.params;
      const owner = await ctx.client.nodes.owner(key);
      return { key, owner: { id: owner.id, name: owner.name, type: owner.type, href: nodeHref(owner) } };
    },
  });
}
