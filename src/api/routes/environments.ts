// Environments and their members: reading them (viewer), their commands (operator, 202).
import type { FastifyInstance } from 'fastify';
import type { EnvironmentArgs } from '../../domain/environments';
import { InvalidInputError } from '../../domain/errors';
import type { ApiContext } from '../context';
import * as present from '../present';
import { route } from '../route';
import {
  Accepted,
  DownBody,
  Empty,
  EnvironmentCreate,
  EnvironmentMemberParams,
  EnvironmentResource,
  MemberAdd,
  MemberRemoveQuery,
  MemberResource,
  PagingQuery,
  RefParams,
  listOf,
  type Body,
} from '../schemas';

const SIMPLE = ['start', 'stop', 'suspend', 'resume'] as const;

export function environmentRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const tag = 'environments';
  const environments = ctx.client.environments;
  const nameOf = async (ref: string) => (await ctx.node('environment', ref)).name;
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
      const { limit = 100, offset = 0 } = req.query as Body<typeof PagingQuery>;
      const [items, total] = await Promise.all([ctx.client.registry.list({ type: 'environment', limit, offset }), ctx.client.registry.count({ type: 'environment' })]);
      return { items: items.map((e) => present.environment(e)), total, limit, offset };
    },
  });

  route(app, {
    method: 'POST',
    url: '/v1/environments',
    role: 'operator',
    tag,
    summary: 'Create an environment: a named group of containers that work together',
    body: EnvironmentCreate,
    response: { 202: Accepted },
    handler: async (req, reply) => {
      const { name, ...args } = req.body as Body<typeof EnvironmentCreate>;
      return ctx.accepted(req, reply, await environments.create(name, args));
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
      const env = await ctx.node('environment', (req.params as Body<typeof RefParams>).ref);
      return present.environment(env, await members(env.name));
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
      const items = await members(await nameOf((req.params as Body<typeof RefParams>).ref));
      return { items, total: items.length };
    },
  });

  route(app, {
    method: 'POST',
    url: '/v1/environments/:ref/members',
    role: 'operator',
    tag,
    summary: 'Add a member: an existing container, or a new one to create; hooks of every member run in priority order',
    params: RefParams,
    body: MemberAdd,
    response: { 202: Accepted },
    handler: async (req, reply) => {
      const body = req.body as Body<typeof MemberAdd>;
      if (!!body.container === !!body.create) throw new InvalidInputError([{ field: 'body', problem: 'needs exactly one of container (an existing one) or create (a new one)' }], 'request');
      const name = await nameOf((req.params as Body<typeof RefParams>).ref);
      if (body.create?.hint) await ctx.node('hypervisor', body.create.hint);
      return ctx.accepted(req, reply, await environments.add(name, body as EnvironmentArgs['add']));
    },
  });

  route(app, {
    method: 'DELETE',
    url: '/v1/environments/:ref/members/:container',
    role: 'operator',
    tag,
    summary: 'Remove a member; with destroy=true the container is destroyed too',
    params: EnvironmentMemberParams,
    querystring: MemberRemoveQuery,
    response: { 202: Accepted },
    handler: async (req, reply) => {
      const p = req.params as Body<typeof EnvironmentMemberParams>;
      const { destroy } = req.query as Body<typeof MemberRemoveQuery>;
      return ctx.accepted(req, reply, await environments.remove(await nameOf(p.ref), p.container, destroy === undefined ? {} : { destroy }));
    },
  });

  route(app, {
    method: 'POST',
    url: '/v1/environments/:ref/members/:container/down',
    role: 'operator',
    tag,
    summary: 'Mark a member down with a cause and run the isDown hooks (a balancer is replaced)',
    params: EnvironmentMemberParams,
    body: DownBody,
    response: { 202: Accepted },
    handler: async (req, reply) => {
      const p = req.params as Body<typeof EnvironmentMemberParams>;
      return ctx.accepted(req, reply, await environments.down(await nameOf(p.ref), p.container, (req.body as Body<typeof DownBody>).cause));
    },
  });

  route(app, {
    method: 'POST',
    url: '/v1/environments/:ref/members/:container/up',
    role: 'operator',
    tag,
    summary: 'Mark a member up again and run the isUp hooks',
    params: EnvironmentMemberParams,
    body: Empty,
    response: { 202: Accepted },
    handler: async (req, reply) => {
      const p = req.params as Body<typeof EnvironmentMemberParams>;
      return ctx.accepted(req, reply, await environments.up(await nameOf(p.ref), p.container));
    },
  });

  for (const command of SIMPLE) {
    route(app, {
      method: 'POST',
      url: `/v1/environments/:ref/${command}`,
      role: 'operator',
      tag,
      summary: `${command[0]!.toUpperCase()}${command.slice(1)} every member, in priority order`,
      params: RefParams,
      body: Empty,
      response: { 202: Accepted },
      handler: async (req, reply) => ctx.accepted(req, reply, await environments[command](await nameOf((req.params as Body<typeof RefParams>).ref))),
    });
  }

  route(app, {
    method: 'DELETE',
    url: '/v1/environments/:ref',
    role: 'operator',
    tag,
    summary: 'Destroy an environment and its members',
    params: RefParams,
    response: { 202: Accepted },
    handler: async (req, reply) => ctx.accepted(req, reply, await environments.destroy(await nameOf((req.params as Body<typeof RefParams>).ref))),
  });
}
