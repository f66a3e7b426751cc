// Containers: reading them (viewer). Their commands are rows of the table in submissions.ts.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ApiContext } from '../context';
import * as present from '../present';
import { route } from '../route';
import { DEFAULT_PAGE_SIZE } from '../../service/paging';
import { ContainerListQuery, ContainerResource, RefParams, pageOf } from '../schemas';

export function containerRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const tag = 'containers';
  const containers = ctx.client.containers;

  route(app, {
    method: 'GET',
    url: '/v1/containers',
    role: 'viewer',
    tag,
    summary: 'List containers by name, by state, host or tag; a page of `limit`, the next one with `pageToken=<nextPageToken>`',
    querystring: ContainerListQuery,
    response: { 200: pageOf(ContainerResource) },
    presented: true,
    handler: async (req) => {
      const q = req.query;
      const limit = q.limit ?? DEFAULT_PAGE_SIZE;
      const parentId = q.host ? (await ctx.node('hypervisor', q.host)).id : undefined;
      const [key, ...value] = (q.tag ?? '').split('=');
      const page = await containers.page({
        ...(q.state ? { state: q.state } : {}),
        ...(parentId ? { parentId } : {}),
        ...(q.tag ? { tag: { key: key!, ...(value.length ? { value: value.join('=') } : {}) } } : {}),
        limit,
        ...(q.pageToken ? { pageToken: q.pageToken } : {}),
      });
      const names = await ctx.linkNames(page.items);
      return { items: page.items.map((c) => present.container(c, names)), limit, ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}) };
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
    presented: true,
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
