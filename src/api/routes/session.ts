// Who the caller is and what the dashboard needs before it draws anything: the token's name and
// role (a viewer sees, an operator acts), the container kinds a create may name, and where the
// Temporal Web UI shows each command.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ApiContext } from '../context';
import { route } from '../route';

export function sessionRoutes(app: FastifyInstance, ctx: ApiContext): void {
  route(app, {
    method: 'GET',
    url: '/v1/session',
    role: 'viewer',
    tag: 'system',
    summary: "The caller's token name and role, the container kinds, and the Temporal Web UI's address",
    response: {
      200: Type.Object({
        name: Type.String(),
        role: Type.String(),
        kinds: Type.Array(Type.String()),
        temporal: Type.Object({ namespace: Type.String(), webUi: Type.String() }),
      }),
    },
    handler: async (req) => ({
      name: req.principal?.name ?? 'anonymous',
      role: req.principal?.role ?? 'viewer',
      kinds: [...ctx.client.kinds.names()],
      temporal: { namespace: ctx.config.namespace, webUi: ctx.config.webUiUrl },
    }),
  });
}
