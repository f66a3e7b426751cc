// Containers: reading them (viewer) and every container command (operator). Commands answer 202
// with the command's workflow id and where to follow it.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { CreateArgs } from '../../domain/commands';
import type { ApiContext } from '../context';
import * as present from '../present';
import { route } from '../route';
import {
  Accepted,
  CloneBody,
  ContainerCreate,
  ContainerListQuery,
  ContainerResource,
  Empty,
  MigrateBody,
  RefParams,
  ShutdownBody,
  UpdateBody,
  listOf,
  type Body,
} from '../schemas';

const SIMPLE = ['start', 'stop', 'reboot', 'suspend', 'resume'] as const;

export function containerRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const tag = 'containers';
  const containers = ctx.client.containers;
  const nameOf = async (ref: string) => (await ctx.node('container', ref)).name;

  route(app, {
    method: 'GET',
    url: '/v1/containers',
    role: 'viewer',
    tag,
    summary: 'List containers, by state, host or tag; paged with limit and offset',
    querystring: ContainerListQuery,
    response: { 200: listOf(ContainerResource) },
    handler: async (req) => {
      const q = req.query as Body<typeof ContainerListQuery>;
      const limit = q.limit ?? 100;
      const offset = q.offset ?? 0;
      const parentId = q.host ? (await ctx.node('hypervisor', q.host)).id : undefined;
      const [key, ...value] = (q.tag ?? '').split('=');
      const query = {
        ...(q.state ? { state: q.state } : {}),
        ...(parentId ? { parentId } : {}),
        ...(q.tag ? { tag: { key: key!, ...(value.length ? { value: value.join('=') } : {}) } } : {}),
      };
      const [items, total] = await Promise.all([containers.list({ ...query, limit, offset }), ctx.client.registry.count({ ...query, type: 'container' })]);
      const names = await ctx.linkNames(items);
      return { items: items.map((c) => present.container(c, names)), total, limit, offset };
    },
  });

  route(app, {
    method: 'POST',
    url: '/v1/containers',
    role: 'operator',
    tag,
    summary: 'Create a container: reserve its keys, claim capacity on a host, define, provision and start it',
    body: ContainerCreate,
    response: { 202: Accepted },
    handler: async (req, reply) => {
      const { name, ...args } = req.body as Body<typeof ContainerCreate>;
      // A hint that names no host is refused now rather than failing the command later.
      if (args.hint) await ctx.node('hypervisor', args.hint);
      return ctx.accepted(req, reply, await containers.create(name, args as CreateArgs));
    },
  });

  route(app, {
    method: 'GET',
    url: '/v1/containers/:ref',
    role: 'viewer',
    tag,
    summary: 'One container, by name or id',
    params: RefParams,
    response: { 200: ContainerResource },
    handler: async (req) => {
      const node = await ctx.node('container', (req.params as Body<typeof RefParams>).ref);
      return present.container(node, await ctx.linkNames([node]));
    },
  });

  route(app, {
    method: 'GET',
    url: '/v1/containers/:ref/queue',
    role: 'viewer',
    tag,
    summary: "The container's queued and recent commands, from its entity workflow",
    params: RefParams,
    response: { 200: Type.Object({ target: Type.String(), state: Type.Union([Type.String(), Type.Null()]), queue: Type.Array(Type.Object({}, { additionalProperties: true })), recent: Type.Array(Type.Object({}, { additionalProperties: true })) }) },
    handler: async (req) => {
      const name = await nameOf((req.params as Body<typeof RefParams>).ref);
      const status = (await ctx.client.commands.queue(name)) as { state?: string; queue?: unknown[]; recent?: unknown[] } | undefined;
      return { target: name, state: status?.state ?? null, queue: status?.queue ?? [], recent: status?.recent ?? [] };
    },
  });

  for (const command of SIMPLE) {
    route(app, {
      method: 'POST',
      url: `/v1/containers/:ref/${command}`,
      role: 'operator',
      tag,
      summary: `${command[0]!.toUpperCase()}${command.slice(1)} a container`,
      params: RefParams,
      body: Empty,
      response: { 202: Accepted },
      handler: async (req, reply) => ctx.accepted(req, reply, await containers[command](await nameOf((req.params as Body<typeof RefParams>).ref))),
    });
  }

  route(app, {
    method: 'POST',
    url: '/v1/containers/:ref/shutdown',
    role: 'operator',
    tag,
    summary: 'Shut a container down gracefully; powered off after timeoutMs',
    params: RefParams,
    body: ShutdownBody,
    response: { 202: Accepted },
    handler: async (req, reply) => {
      const name = await nameOf((req.params as Body<typeof RefParams>).ref);
      return ctx.accepted(req, reply, await containers.shutdown(name, (req.body as Body<typeof ShutdownBody>).timeoutMs));
    },
  });

  route(app, {
    method: 'POST',
    url: '/v1/containers/:ref/update',
    role: 'operator',
    tag,
    summary: "Change a stopped container's resources or image",
    params: RefParams,
    body: UpdateBody,
    response: { 202: Accepted },
    handler: async (req, reply) => {
      const name = await nameOf((req.params as Body<typeof RefParams>).ref);
      return ctx.accepted(req, reply, await containers.update(name, req.body as Body<typeof UpdateBody>));
    },
  });

  route(app, {
    method: 'POST',
    url: '/v1/containers/:ref/clone',
    role: 'operator',
    tag,
    summary: 'Copy a stopped container under a new name, with its own ip and mac',
    params: RefParams,
    body: CloneBody,
    response: { 202: Accepted },
    handler: async (req, reply) => {
      const name = await nameOf((req.params as Body<typeof RefParams>).ref);
      return ctx.accepted(req, reply, await containers.clone(name, req.body as Body<typeof CloneBody>));
    },
  });

  route(app, {
    method: 'POST',
    url: '/v1/containers/:ref/migrate',
    role: 'operator',
    tag,
    summary: 'Move a container to another host: live when running, cold when stopped',
    params: RefParams,
    body: MigrateBody,
    response: { 202: Accepted },
    handler: async (req, reply) => {
      const name = await nameOf((req.params as Body<typeof RefParams>).ref);
      return ctx.accepted(req, reply, await containers.migrate(name, req.body as Body<typeof MigrateBody>));
    },
  });

  route(app, {
    method: 'DELETE',
    url: '/v1/containers/:ref',
    role: 'operator',
    tag,
    summary: 'Destroy a container: remove it from its host and release its keys',
    params: RefParams,
    response: { 202: Accepted },
    handler: async (req, reply) => ctx.accepted(req, reply, await containers.destroy(await nameOf((req.params as Body<typeof RefParams>).ref))),
  });
}
