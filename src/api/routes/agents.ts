// Agent information (PyFarm's "agent information"): per host, what the monitor last recorded in
// the registry — state, last contact, load, free resources, failures in a row — and where its
// driver runs; one host adds its commands in flight and recent failures (client.info).
import type { FastifyInstance } from 'fastify';
import { META, type HypervisorDefinition, type NodeRecord } from '../../domain/types';
import type { HostSnapshot } from '../../registry/types';
import { TASK_QUEUE } from '../../domain/names';
import type { ApiContext } from '../context';
import { href } from '../present';
import { route } from '../route';
import { AgentDetail, AgentResource, RefParams, listOf } from '../schemas';

function agent(host: NodeRecord, snapshot: HostSnapshot | undefined, containers: number) {
  const def = host.definition as HypervisorDefinition;
  const m = host.metadata;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return {
    id: host.id,
    name: host.name,
    href: href.agent(host.id),
    hypervisor: { id: host.id, name: host.name, href: href.hypervisor(host.id) },
    state: host.state,
    driver: def.driver,
    taskQueue: def.agentQueue ?? TASK_QUEUE,
    lastContact: typeof m[META.lastContact] === 'string' ? (m[META.lastContact] as string) : null,
    load: num(m[META.load]),
    free: m[META.free] && typeof m[META.free] === 'object' ? (m[META.free] as Record<string, unknown>) : null,
    failuresInRow: num(m[META.failuresInRow]) ?? 0,
    stateCause: typeof m[META.stateCause] === 'string' ? (m[META.stateCause] as string) : null,
    capacity: { ...def.capacity },
    used: snapshot?.used ?? { cpus: 0, memoryMiB: 0, diskGiB: 0 },
    containers,
  };
}

export function agentRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const registry = ctx.client.registry;

  route(app, {
    method: 'GET',
    url: '/v1/agents',
    role: 'viewer',
    tag: 'agents',
    summary: 'What the monitor last saw of every host: state, last contact, load, free resources, failures',
    response: { 200: listOf(AgentResource) },
    handler: async () => {
      const [hosts, snapshot] = await Promise.all([registry.list({ type: 'hypervisor' }), registry.hostSnapshot()]);
      const byId = new Map(snapshot.map((s) => [s.id, s]));
      const counts = await Promise.all(hosts.map((h) => registry.count({ type: 'container', parentId: h.id })));
      return { items: hosts.map((h, i) => agent(h, byId.get(h.id), counts[i]!)), total: hosts.length };
    },
  });

  route(app, {
    method: 'GET',
    url: '/v1/agents/:ref',
    role: 'viewer',
    tag: 'agents',
    summary: 'What the monitor last saw of one host, with its commands in flight, recent failures and recent registry events',
    params: RefParams,
    response: { 200: AgentDetail },
    handler: async (req) => {
      const host = await ctx.node('hypervisor', req.params.ref);
      const [snapshot, info] = await Promise.all([registry.hostSnapshot(), ctx.client.info.host(host.name)]);
      return {
        ...agent(host, snapshot.find((s) => s.id === host.id), info.containers),
        lastError: info.lastError,
        commandsInFlight: info.commandsInFlight.map((c) => ({ ...c, href: href.command(c.workflowId) })),
        recentFailures: info.recentFailures.map((c) => ({ ...c, href: href.command(c.workflowId) })),
        recentEvents: info.recentEvents,
      };
    },
  });
}
