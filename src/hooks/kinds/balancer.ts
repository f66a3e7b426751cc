import { upstreamConfig, UPSTREAM_PATH } from '../nginx';
import type { ContainerKind, HookContext } from '../types';

const GONE = new Set(['lost', 'illegal']);

/** Rewrites the upstream list from the environment's web members that are still there. */
async function publishUpstreams(ctx: HookContext, without?: string) {
  const webs = ctx.environment.members.filter((m) => m.kind === 'web' && m.id !== without && !GONE.has(m.state));
  await ctx.configure(UPSTREAM_PATH, upstreamConfig(ctx.environment.name, webs.map((m) => m.ip)));
  return { allow: true } as const;
}

/**
 * An nginx load balancer in front of the web servers. It keeps their addresses in its upstream
 * configuration, is the only balancer of its environment, and when it goes down a new one is
 * created on another host with the same upstreams.
 */
export const kind: ContainerKind = {
  name: 'balancer',
  priority: 30,
  ha: 'none',
  defaults: { cpus: 1, memoryMiB: 512, diskGiB: 5 },
  handlers: {
    beforeOtherIsAdded: ({ other, self }) =>
      other?.kind === 'balancer' ? { allow: false, reason: `the environment already has a balancer, ${self.name}` } : { allow: true },
    afterItIsAdded: (ctx) => publishUpstreams(ctx),
    afterOtherIsAdded: (ctx) => (ctx.other?.kind === 'web' ? publishUpstreams(ctx) : { allow: true }),
    afterOtherIsRemoved: (ctx) => (ctx.other?.kind === 'web' ? publishUpstreams(ctx, ctx.other.id) : { allow: true }),
    afterControllerStart: (ctx) => publishUpstreams(ctx),
    isDown: (ctx) => {
      if (!ctx.other) return { allow: true, run: [{ run: 'replace', member: ctx.self.name }] };
      // A web server that went down leaves the upstream list until it is up again.
      return ctx.other.kind === 'web' && !GONE.has(ctx.self.state) ? publishUpstreams(ctx, ctx.other.id) : { allow: true };
    },
    isUp: (ctx) => (ctx.other?.kind === 'web' ? publishUpstreams(ctx) : { allow: true }),
  },
};
