// Health, the OpenAPI document, Prometheus metrics and what the controller knows about itself.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { NODE_TYPES } from '../../domain/types';
import type { ApiContext } from '../context';
import { route } from '../route';
import { Accepted } from '../schemas';

const VERSION: string = require('../../../package.json').version;

function within<T>(ms: number, p: Promise<T>): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);
}

/** Command statistics take dozens of visibility queries: computed at most every STATS_TTL_MS, shared by concurrent requests. */
const STATS_TTL_MS = 15_000;

export function systemRoutes(app: FastifyInstance, ctx: ApiContext, counters: { requests: number; serverErrors: number }): void {
  let stats: { at: number; value: ReturnType<ApiContext['client']['info']['controller']> } | undefined;
  const commandStats = () => {
    if (!stats || Date.now() - stats.at > STATS_TTL_MS) {
      const value = ctx.client.info.controller({ sample: 100 });
      stats = { at: Date.now(), value };
      value.catch(() => (stats = undefined));
    }
    return stats.value;
  };

  route(app, {
    method: 'GET',
    url: '/healthz',
    role: 'public',
    tag: 'system',
    summary: 'Whether the API reaches the registry and Temporal; 503 when it does not',
    response: {
      200: Type.Object({ status: Type.String(), checks: Type.Record(Type.String(), Type.String()) }),
      503: Type.Object({ status: Type.String(), checks: Type.Record(Type.String(), Type.String()) }),
    },
    handler: async (_req, reply) => {
      const checks: Record<string, string> = {};
      await Promise.all([
        within(3000, ctx.client.registry.count({ type: 'hypervisor' })).then(
          () => void (checks.registry = 'ok'),
          (err: Error) => void (checks.registry = err.message),
        ),
        within(3000, ctx.client.temporal.workflowService.getSystemInfo({})).then(
          () => void (checks.temporal = 'ok'),
          (err: Error) => void (checks.temporal = err.message),
        ),
      ]);
      const ok = Object.values(checks).every((c) => c === 'ok');
      reply.status(ok ? 200 : 503);
      return { status: ok ? 'ok' : 'unavailable', checks };
    },
  });

  route(app, {
    method: 'GET',
    url: '/openapi.json',
    role: 'public',
    tag: 'system',
    summary: 'This API as an OpenAPI 3.1 document',
    response: { 200: Type.Object({}, { additionalProperties: true }) },
    handler: async () => app.swagger(),
  });

  route(app, {
    method: 'GET',
    url: '/metrics',
    role: 'viewer',
    tag: 'system',
    summary: 'Prometheus metrics: requests by route, status and token name, commands accepted by token; registry nodes and each host\'s capacity, use and state; with a worker in the same process, commands by type and outcome, monitor and collector cycles, failovers',
    response: { 200: Type.String({ description: 'Prometheus text exposition format' }) },
    handler: async (_req, reply) => {
      const { contentType, body } = await ctx.metrics.text();
      reply.type(contentType);
      return body;
    },
  });

  route(app, {
    method: 'GET',
    url: '/v1/controller',
    role: 'viewer',
    tag: 'system',
    summary: 'The controller (PyFarm\'s "master information"): version, uptime, requests handled, errors, nodes by type',
    response: {
      200: Type.Object({
        version: Type.String(),
        startedAt: Type.String(),
        uptimeSeconds: Type.Number(),
        temporal: Type.Object({ address: Type.String(), namespace: Type.String(), webUi: Type.String() }),
        requests: Type.Object({ handled: Type.Integer(), serverErrors: Type.Integer() }),
        nodes: Type.Record(Type.String(), Type.Integer()),
        commands: Type.Array(Type.Object({}, { additionalProperties: true }), { description: 'per workflow type: started, running, completed, failed, cancelled, recent durations (Temporal visibility, refreshed every 15 s)' }),
        links: Type.Record(Type.String(), Type.String()),
      }),
    },
    handler: async () => {
      const [counts, info] = await Promise.all([Promise.all(NODE_TYPES.map((type) => ctx.client.registry.count({ type }))), commandStats()]);
      return {
        version: VERSION,
        startedAt: ctx.startedAt.toISOString(),
        uptimeSeconds: Math.round((Date.now() - ctx.startedAt.getTime()) / 1000),
        temporal: { address: ctx.config.temporalAddress, namespace: ctx.config.namespace, webUi: ctx.config.webUiUrl },
        requests: { handled: counters.requests, serverErrors: counters.serverErrors },
        nodes: Object.fromEntries(NODE_TYPES.map((t, i) => [t, counts[i]!])),
        commands: info.commands,
        links: {
          hypervisors: '/v1/hypervisors',
          containers: '/v1/containers',
          environments: '/v1/environments',
          commands: '/v1/commands',
          agents: '/v1/agents',
          openapi: '/openapi.json',
          metrics: '/metrics',
        },
      };
    },
  });

  for (const [action, event] of [
    ['start', 'afterControllerStart'],
    ['stop', 'beforeControllerStop'],
  ] as const) {
    route(app, {
      method: 'POST',
      url: `/v1/controller/${action}`,
      role: 'operator',
      tag: 'system',
      summary: `Run ${event} in every environment: one environment command each, followed at its href`,
      body: Type.Object({}, { additionalProperties: false }),
      response: { 202: Type.Object({ items: Type.Array(Accepted) }) },
      startsCommand: true,
      handler: async (req, reply) => {
        const handles = await ctx.client.environments.controller(event);
        const items = handles.map((h) => ctx.accepted(req, reply, h));
        reply.status(202);
        return { items };
      },
    });
  }

  route(app, {
    method: 'GET',
    url: '/v1/nodes/:id',
    role: 'viewer',
    tag: 'system',
    summary: 'Any node by id (placeholders included), as the registry has it',
    params: Type.Object({ id: Type.String({ pattern: '^[0-9a-f-]{36}$' }) }, { additionalProperties: false }),
    response: { 200: Type.Object({}, { additionalProperties: true }) },
    handler: async (req) => {
      const node = await ctx.client.nodes.get((req.params as { id: string }).id);
      return node;
    },
  });
}
