// A balancer's upstreams: the web members it lists in its nginx upstream file. The balancer kind
// writes that file from the environment's members on every membership change, leaving out web
// servers that are lost or illegal; this reads the same rule from the registry, so it needs no
// driver in the API process.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { UPSTREAM_PATH, upstreamConfig } from '../../hooks/nginx';
import type { ApiContext } from '../context';
import { href } from '../present';
import { route } from '../route';
import { RefParams } from '../schemas';

const GONE = new Set(['lost', 'illegal']);

export function upstreamRoutes(app: FastifyInstance, ctx: ApiContext): void {
  route(app, {
    method: 'GET',
    url: '/v1/environments/:ref/upstreams',
    role: 'viewer',
    tag: 'environments',
    summary: "The environment's balancer and the web servers in its upstream list, with the upstream file it publishes",
    params: RefParams,
    response: {
      200: Type.Object({
        balancer: Type.Union([Type.Object({ name: Type.String(), href: Type.String(), state: Type.String(), host: Type.Union([Type.String(), Type.Null()]) }), Type.Null()]),
        upstreams: Type.Array(Type.Object({ name: Type.String(), ip: Type.String(), state: Type.String(), host: Type.Union([Type.String(), Type.Null()]) })),
        path: Type.String(),
        config: Type.Union([Type.String(), Type.Null()]),
      }),
    },
    handler: async (req) => {
      const env = await ctx.node('environment', req.params.ref);
      const members = await ctx.client.environments.members(env.name);
      const balancer = members.find((m) => m.kind === 'balancer' && !GONE.has(m.state));
      const webs = members.filter((m) => m.kind === 'web' && !GONE.has(m.state));
      return {
        balancer: balancer ? { name: balancer.name, href: href.container(balancer.id), state: balancer.state, host: balancer.host ?? null } : null,
        upstreams: webs.map((w) => ({ name: w.name, ip: w.ip, state: w.state, host: w.host ?? null })),
        path: UPSTREAM_PATH,
        config: balancer ? upstreamConfig(env.name, webs.map((w) => w.ip)) : null,
      };
    },
  });
}
