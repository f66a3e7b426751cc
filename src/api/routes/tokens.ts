// API tokens (admin): create (the secret is shown once), list, revoke.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ApiContext } from '../context';
import * as present from '../present';
import { route } from '../route';
import { TokenCreate, TokenCreated, TokenParams, TokenResource, listOf } from '../schemas';

export function tokenRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const tag = 'tokens';
  route(app, {
    method: 'GET',
    url: '/v1/tokens',
    role: 'admin',
    tag,
    summary: 'List API tokens (never their secrets)',
    querystring: Type.Object({ revoked: Type.Optional(Type.Boolean({ description: 'include revoked tokens' })) }, { additionalProperties: false }),
    response: { 200: listOf(TokenResource) },
    handler: async (req) => {
      const items = await ctx.tokens.list({ includeRevoked: (req.query as { revoked?: boolean }).revoked === true });
      return { items: items.map(present.token), total: items.length };
    },
  });

  route(app, {
    method: 'POST',
    url: '/v1/tokens',
    role: 'admin',
    tag,
    summary: 'Create an API token; its secret is in this answer only',
    body: TokenCreate,
    response: { 201: TokenCreated },
    handler: async (req, reply) => {
      const body = req.body;
      const { token, secret } = await ctx.tokens.create({ name: body.name, role: body.role, createdBy: `api:${req.principal?.name ?? 'unknown'}` });
      req.log.info({ tokenId: token.id, role: token.role, by: req.principal?.name }, 'token created');
      reply.status(201).header('location', present.href.token(token.id));
      return { token: present.token(token), secret };
    },
  });

  route(app, {
    method: 'DELETE',
    url: '/v1/tokens/:id',
    role: 'admin',
    tag,
    summary: 'Revoke an API token',
    params: TokenParams,
    response: { 200: TokenResource },
    handler: async (req) => {
      const token = await ctx.tokens.revoke(req.params.id);
      req.log.info({ tokenId: token.id, by: req.principal?.name }, 'token revoked');
      return present.token(token);
    },
  });
}
