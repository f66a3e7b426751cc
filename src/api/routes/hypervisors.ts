// Hypervisors: reading them (viewer), adding, draining and removing them (admin).
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ApiContext } from '../context';
import * as present from '../present';
import { route } from '../route';
import { SampleWindowQuery, SamplesResource, readSamples } from './cluster';
import { ContainerResource, DrainBody, Empty, HypervisorCreate, HypervisorResource, RefParams, listOf } from '../schemas';

/** A container or placeholder on a host. */
const ChildResource = Type.Object({
  id: Type.String(),
  name: Type.String(),
  type: Type.String(),
  state: Type.String(),
  href: Type.String(),
  definition: Type.Object({}, { additionalProperties: true }),
});

/** How long POST /v1/hypervisors waits for the first probe before answering 202. */
const ADD_WAIT_MS = 5_000;

export function hypervisorRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const tag = 'hypervisors';
  const usageOf = async () => new Map((await ctx.client.registry.hostSnapshot()).map((h) => [h.id, h.used]));

  route(app, {
    method: 'GET',
    url: '/v1/hypervisors',
    role: 'viewer',
    tag,
    summary: 'List hypervisors with the capacity claimed on each',
    response: { 200: listOf(HypervisorResource) },
    handler: async () => {
      const [hosts, usage] = await Promise.all([ctx.client.hypervisors.list(), usageOf()]);
      return { items: hosts.map((h) => present.hypervisor(h, usage.get(h.id))), total: hosts.length };
    },
  });

  route(app, {
    method: 'POST',
    url: '/v1/hypervisors',
    role: 'admin',
    tag,
    summary: 'Add a hypervisor: validated, registered and probed through its driver',
    body: HypervisorCreate,
    response: {
      201: HypervisorResource,
      202: Type.Object(
        { name: Type.String(), workflowId: Type.String(), href: Type.String(), webUi: Type.String() },
        { description: 'registered; its first probe is still running (a host that does not answer is retried): read href for its state' },
      ),
    },
    startsCommand: true,
    handler: async (req, reply) => {
      const body = req.body;
      const started = await ctx.client.hypervisors.startAdd(body.name, body.definition, body.tags);
      const done = started.result();
      const node = await Promise.race([done, new Promise<undefined>((r) => setTimeout(() => r(undefined), ADD_WAIT_MS).unref())]);
      if (!node) {
        done.catch(() => undefined);
        reply.status(202).header('location', `/v1/hypervisors/${body.name}`);
        return { name: body.name, workflowId: started.workflowId, href: `/v1/hypervisors/${body.name}`, webUi: present.webUi(ctx.config.webUiUrl, ctx.config.namespace, started.workflowId) };
      }
      reply.status(201).header('location', present.href.hypervisor(node.id));
      return present.hypervisor(node);
    },
  });

  route(app, {
    method: 'GET',
    url: '/v1/hypervisors/:ref',
    role: 'viewer',
    tag,
    summary: 'One hypervisor, by name or id',
    params: RefParams,
    response: { 200: HypervisorResource },
    handler: async (req) => {
      const node = await ctx.node('hypervisor', req.params.ref);
      return present.hypervisor(node, await ctx.client.registry.usage(node.id));
    },
  });

  route(app, {
    method: 'GET',
    url: '/v1/hypervisors/:ref/containers',
    role: 'viewer',
    tag,
    summary: 'Containers on a hypervisor',
    params: RefParams,
    response: { 200: listOf(ContainerResource) },
    handler: async (req) => {
      const node = await ctx.node('hypervisor', req.params.ref);
      const children = await ctx.client.registry.children(node.id, 'container');
      const names = await ctx.linkNames(children);
      return { items: children.map((c) => present.container(c, names)), total: children.length };
    },
  });

  route(app, {
    method: 'GET',
    url: '/v1/hypervisors/:ref/samples',
    role: 'viewer',
    tag,
    summary: "A hypervisor's capacity over time, as the monitor sampled it: what its containers used, placeholders held and it allowed",
    params: RefParams,
    querystring: SampleWindowQuery,
    response: { 200: SamplesResource },
    handler: async (req) => readSamples(ctx, (await ctx.node('hypervisor', req.params.ref)).id, req.query),
  });

  route(app, {
    method: 'GET',
    url: '/v1/hypervisors/:ref/children',
    role: 'viewer',
    tag,
    summary: 'Everything that claims capacity on a hypervisor: its containers and the placeholders of commands in flight',
    params: RefParams,
    response: { 200: listOf(ChildResource) },
    handler: async (req) => {
      const node = await ctx.node('hypervisor', req.params.ref);
      const children = await ctx.client.registry.children(node.id);
      return { items: children.map((c) => ({ id: c.id, name: c.name, type: c.type, state: c.state, href: present.nodeHref(c), definition: c.definition })), total: children.length };
    },
  });

  route(app, {
    method: 'POST',
    url: '/v1/hypervisors/:ref/drain',
    role: 'admin',
    tag,
    summary: 'Drain a hypervisor: it is cordoned (nothing new is placed there) and, unless keep is set, one durable command moves every container away; its workflow id is in the Location header',
    params: RefParams,
    body: DrainBody,
    response: { 200: HypervisorResource },
    startsCommand: true,
    handler: async (req, reply) => {
      const host = await ctx.node('hypervisor', req.params.ref);
      const drained = await ctx.client.hypervisors.drain(host.id, req.body.reason, { keep: req.body.keep });
      if (drained.workflowId) reply.header('location', `/v1/commands/${encodeURIComponent(drained.workflowId)}`);
      return present.hypervisor(drained.host);
    },
  });

  route(app, {
    method: 'POST',
    url: '/v1/hypervisors/:ref/evacuate',
    role: 'admin',
    tag,
    summary: 'Rebuild what a hypervisor that is down held on other hosts (fenced first), as a failover does; its workflow id is in the Location header',
    params: RefParams,
    body: Empty,
    response: { 202: Empty },
    startsCommand: true,
    handler: async (req, reply) => {
      const host = await ctx.node('hypervisor', req.params.ref);
      const { workflowId } = await ctx.client.hypervisors.evacuate(host.id);
      reply.status(202).header('location', `/v1/commands/${encodeURIComponent(workflowId)}`);
      return {};
    },
  });

  route(app, {
    method: 'POST',
    url: '/v1/hypervisors/:ref/undrain',
    role: 'admin',
    tag,
    summary: 'Uncordon a hypervisor: take a draining one back into placement',
    params: RefParams,
    body: Empty,
    response: { 200: HypervisorResource },
    handler: async (req) => {
      const host = await ctx.node('hypervisor', req.params.ref);
      return present.hypervisor(await ctx.client.hypervisors.undrain(host.id));
    },
  });

  route(app, {
    method: 'DELETE',
    url: '/v1/hypervisors/:ref',
    role: 'admin',
    tag,
    summary: 'Remove (deprovision) a hypervisor; refused while containers or claims are on it',
    params: RefParams,
    response: { 204: Type.Null() },
    handler: async (req, reply) => {
      const host = await ctx.node('hypervisor', req.params.ref);
      await ctx.client.hypervisors.remove(host.id);
      reply.status(204);
      return null;
    },
  });
}
