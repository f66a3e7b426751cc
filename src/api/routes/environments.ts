// Environments and their members: reading them (viewer). Their commands are rows of the table in
// submissions.ts.
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context';
import * as present from '../present';
import { route } from '../route';
import { environmentState } from '../../service/environments';
import { EnvironmentResource, MemberResource, PagingQuery, RefParams, listOf } from '../schemas';

export function environmentRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const tag = 'environments';
  const environments = ctx.client.environments;
  const members = async (name: string) => {
    const [list, hosts] = await Promise.all([environments.members(name), ctx.client.hypervisors.list()]);
    const hostIds = new Map(hosts.map((h) => [h.name, h.id]));
    return list.map((m) => present.member(m, hostIds));
  };

  route(app, {
    method: 'GET',
    url: '/v1/environments',
    role: 'viewer',
    tag,
    summary: 'List environments',
    querystring: PagingQuery,
    response: { 200: listOf(EnvironmentResource) },
    handler: async (req) => {
      const { limit = 100, offset = 0 } = req.query;
      const [items, total] = await Promise.all([ctx.client.registry.list({ type: 'environment', limit, offset }), ctx.client.registry.count({ type: 'environment' })]);
      const states = await environments.states(items);
      return { items: items.map((e) => present.environment(e, states.get(e.id) ?? 'empty')), total, limit, offset };
    },
  });

  route(app, {
    method: 'GET',
    url: '/v1/environments/:ref',
    role: 'viewer',
    tag,
    summary: 'One environment with its members, lowest priority first',
    params: RefParams,
    response: { 200: EnvironmentResource },
    handler: async (req) => {
      const env = await ctx.node('environment', req.params.ref);
      const list = await members(env.name);
      return present.environment(env, environmentState(list.map((m) => m.state)), list);
    },
  });

  route(app, {
    method: 'GET',
    url: '/v1/environments/:ref/members',
    role: 'viewer',
    tag,
    summary: "An environment's members, lowest priority first",
    params: RefParams,
    response: { 200: listOf(MemberResource) },
    handler: async (req) => {
      const items = await members(await ctx.name('environment', req.params.ref));
      return { items, total: items.length };
    },
  });
}
