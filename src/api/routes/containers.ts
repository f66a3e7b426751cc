// Containers: reading them (viewer). Their commands are rows of the table in submissions.ts.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ApiContext } from '../context';
import * as present from '../present';
import { route } from '../route';
import { ContainerListQuery, ContainerResource, RefParams, listOf } from '../schemas';

export function containerRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const tag = 'containers';
  const containers = ctx.client.containers;

  route(app, {
    method: 'GET',
    url: '/v1/containers',
    role: 'viewer',
    tag,
    summary: 'List containers, by state, host or tag; paged with limit and offset',
    querystring: ContainerListQuery,
    response: { 200: listOf(ContainerResource) },
    handler: async (req) => {
      const q = req.query;
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
    method: 'GET',
    url: '/v1/containers/:ref',
    role: 'viewer',
    tag,
    summary: 'One container, by name or id',
    params: RefParams,
    response: { 200: ContainerResource },
    handler: async (req) => {
      const node = await ctx.node('container', req.params.ref);
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
      const name = await ctx.name('container', req.params.ref);
      const status = (await ctx.client.commands.queue(name)) as { state?: string; queue?: unknown[]; recent?: unknown[] } | undefined;
      return { target: name, state: status?.state ?? null, queue: status?.queue ?? [], recent: status?.recent ?? [] };
    },
  });
}
