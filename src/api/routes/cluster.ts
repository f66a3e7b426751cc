// The cluster at a glance, in one read: every host with what its containers use, what the
// placeholders of commands in flight hold, what is free, its state and last contact; and totals.
// And the same over time, from the samples the monitor records (for the cluster or one host).
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { META, ZERO, addResources, type HypervisorDefinition, type NodeRecord, type PlaceholderDefinition, type Resources } from '../../domain/types';
import { SAMPLE_KEEP_SECONDS, SAMPLE_SPACING_SECONDS, type SamplePoint } from '../../registry';
import type { ApiContext } from '../context';
import { href } from '../present';
import { route } from '../route';

const Amounts = Type.Object({ cpus: Type.Number(), memoryMiB: Type.Number(), diskGiB: Type.Number() });
const HostUsage = Type.Object({
  id: Type.String(),
  name: Type.String(),
  href: Type.String(),
  state: Type.String({ description: 'up, down or draining' }),
  stateCause: Type.Union([Type.String(), Type.Null()]),
  driver: Type.String(),
  lastContact: Type.Union([Type.String(), Type.Null()]),
  load: Type.Union([Type.Number(), Type.Null()]),
  allowance: Type.Object(Amounts.properties, { description: 'capacity times overcommit' }),
  containers: Type.Object(Amounts.properties, { description: 'claimed by the containers on the host' }),
  placeholders: Type.Object(Amounts.properties, { description: 'held by live placeholders of commands in flight' }),
  free: Amounts,
  containerCount: Type.Integer(),
  placeholderCount: Type.Integer(),
});
const ClusterResource = Type.Object({
  at: Type.String(),
  hosts: Type.Array(HostUsage),
  totals: Type.Object({
    hosts: Type.Record(Type.String(), Type.Integer(), { description: 'hosts by state' }),
    allowance: Amounts,
    containers: Amounts,
    placeholders: Amounts,
    free: Amounts,
    containerCount: Type.Integer(),
    containersByState: Type.Record(Type.String(), Type.Integer()),
    placeholderCount: Type.Integer(),
  }),
});

/** A window of capacity samples: its length and how many points to draw it with. */
export const SampleWindowQuery = Type.Object(
  {
    minutes: Type.Optional(Type.Integer({ minimum: 5, maximum: SAMPLE_KEEP_SECONDS / 60, description: 'the window, ending now; default 60' })),
    points: Type.Optional(Type.Integer({ minimum: 2, maximum: 500, description: 'at most this many points; default 60' })),
  },
  { additionalProperties: false },
);

export const SamplesResource = Type.Object({
  from: Type.String(),
  to: Type.String(),
  stepSeconds: Type.Integer({ description: 'each point sums the hosts sampled in this many seconds from its `at`' }),
  spacingSeconds: Type.Integer({ description: 'the monitor samples each host at most this often' }),
  points: Type.Array(
    Type.Object({
      at: Type.String(),
      hosts: Type.Integer({ description: 'hosts sampled in the bucket' }),
      up: Type.Integer({ description: 'of which up' }),
      allowance: Amounts,
      containers: Amounts,
      placeholders: Amounts,
    }),
  ),
});

/**
 * The samples of one host (or of the cluster) over the last `minutes`, in buckets aligned on their
 * step. A step is never shorter than two sample spacings, so every host the monitor polls counts
 * in every bucket and the cluster's sums do not dip between samples.
 */
export async function readSamples(ctx: ApiContext, hostId: string | undefined, query: { minutes?: number; points?: number }) {
  const windowMs = (query.minutes ?? 60) * 60_000;
  const stepMs = Math.max(Math.ceil(windowMs / (query.points ?? 60) / 1000) * 1000, 2 * SAMPLE_SPACING_SECONDS * 1000);
  const now = Date.now();
  const to = new Date(now - (now % stepMs) + stepMs);
  const from = new Date(to.getTime() - Math.ceil(windowMs / stepMs) * stepMs);
  const points: SamplePoint[] = await ctx.client.registry.samples({ ...(hostId ? { hostId } : {}), from, to, stepSeconds: stepMs / 1000 });
  return { from: from.toISOString(), to: to.toISOString(), stepSeconds: stepMs / 1000, spacingSeconds: SAMPLE_SPACING_SECONDS, points };
}

const minus = (a: Resources, b: Resources): Resources => ({ cpus: a.cpus - b.cpus, memoryMiB: a.memoryMiB - b.memoryMiB, diskGiB: a.diskGiB - b.diskGiB });

/** Live placeholders (not yet expired) summed by host. */
function placeholdersByHost(placeholders: readonly NodeRecord[], now: string): Map<string, { used: Resources; count: number }> {
  const out = new Map<string, { used: Resources; count: number }>();
  for (const p of placeholders) {
    const def = p.definition as PlaceholderDefinition;
    if (!p.parentId || def.expiresAt <= now) continue;
    const seen = out.get(p.parentId) ?? { used: ZERO, count: 0 };
    out.set(p.parentId, { used: addResources(seen.used, def.resources), count: seen.count + 1 });
  }
  return out;
}

export function clusterRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const registry = ctx.client.registry;

  route(app, {
    method: 'GET',
    url: '/v1/cluster',
    role: 'viewer',
    tag: 'hypervisors',
    summary: 'Every host with its usage split into containers, placeholders and free, its state and last contact; and cluster totals',
    response: { 200: ClusterResource },
    handler: async () => {
      const now = new Date().toISOString();
      const [hosts, snapshot, placeholders, containers] = await Promise.all([
        registry.list({ type: 'hypervisor' }),
        registry.hostSnapshot(),
        registry.list({ type: 'placeholder' }),
        registry.list({ type: 'container' }),
      ]);
      const used = new Map(snapshot.map((s) => [s.id, s]));
      const held = placeholdersByHost(placeholders, now);
      const containerCount = new Map<string, number>();
      const containersByState: Record<string, number> = {};
      for (const c of containers) {
        if (c.parentId) containerCount.set(c.parentId, (containerCount.get(c.parentId) ?? 0) + 1);
        containersByState[c.state] = (containersByState[c.state] ?? 0) + 1;
      }
      const rows = hosts
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((h) => {
          const snap = used.get(h.id);
          const m = h.metadata;
          const allowance = snap?.allowance ?? (h.definition as HypervisorDefinition).capacity;
          const inFlight = held.get(h.id) ?? { used: ZERO, count: 0 };
          const total = snap?.used ?? ZERO;
          return {
            id: h.id,
            name: h.name,
            href: href.hypervisor(h.id),
            state: h.state,
            stateCause: typeof m[META.stateCause] === 'string' ? (m[META.stateCause] as string) : null,
            driver: (h.definition as HypervisorDefinition).driver,
            lastContact: typeof m[META.lastContact] === 'string' ? (m[META.lastContact] as string) : null,
            load: typeof m[META.load] === 'number' ? (m[META.load] as number) : null,
            allowance,
            containers: minus(total, inFlight.used),
            placeholders: inFlight.used,
            free: minus(allowance, total),
            containerCount: containerCount.get(h.id) ?? 0,
            placeholderCount: inFlight.count,
          };
        });
      const sum = (pick: (r: (typeof rows)[number]) => Resources) => rows.reduce((acc, r) => addResources(acc, pick(r)), ZERO);
      const byState: Record<string, number> = {};
      for (const r of rows) byState[r.state] = (byState[r.state] ?? 0) + 1;
      return {
        at: now,
        hosts: rows,
        totals: {
          hosts: byState,
          allowance: sum((r) => r.allowance),
          containers: sum((r) => r.containers),
          placeholders: sum((r) => r.placeholders),
          free: sum((r) => r.free),
          containerCount: containers.length,
          containersByState,
          placeholderCount: rows.reduce((n, r) => n + r.placeholderCount, 0),
        },
      };
    },
  });

  route(app, {
    method: 'GET',
    url: '/v1/cluster/samples',
    role: 'viewer',
    tag: 'hypervisors',
    summary: "The cluster's capacity over time: what containers used, placeholders held and hosts allowed, summed over the hosts the monitor sampled",
    querystring: SampleWindowQuery,
    response: { 200: SamplesResource },
    handler: async (req) => readSamples(ctx, undefined, req.query),
  });
}
