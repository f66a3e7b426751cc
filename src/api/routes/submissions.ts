// Every route that submits a container or environment command, from one table. A row is the
// route's URL, its schemas and the one call that submits the command; each answers 202 with the
// command's workflow id and where to follow it, and needs the operator role.
import type { Static, TSchema, TUnknown } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { CommandHandle } from '../../client';
import { InvalidInputError } from '../../domain/errors';
import type { ApiContext } from '../context';
import { route } from '../route';
import { Accepted, CloneBody, DownBody, Empty, EnvironmentMemberParams, environmentCreate, MemberRemoveQuery, MigrateBody, RefParams, ShutdownBody, UpdateBody, containerCreate, memberAdd } from '../schemas';

interface Submission<P extends TSchema, Q extends TSchema, B extends TSchema> {
  readonly method: 'POST' | 'DELETE';
  readonly url: string;
  readonly summary: string;
  readonly params?: P;
  readonly querystring?: Q;
  readonly body?: B;
  readonly submit: (ctx: ApiContext, request: { readonly params: Static<P>; readonly query: Static<Q>; readonly body: Static<B> }) => Promise<CommandHandle<unknown>>;
}

interface Row {
  readonly tag: 'containers' | 'environments';
  register(app: FastifyInstance, ctx: ApiContext): void;
}

/** A row of the table; its schemas type what `submit` receives. */
function row<P extends TSchema = TUnknown, Q extends TSchema = TUnknown, B extends TSchema = TUnknown>(tag: Row['tag'], s: Submission<P, Q, B>): Row {
  return {
    tag,
    register: (app, ctx) =>
      route<P, Q, B>(app, {
        method: s.method,
        url: s.url,
        role: 'operator',
        tag,
        summary: s.summary,
        ...(s.params ? { params: s.params } : {}),
        ...(s.querystring ? { querystring: s.querystring } : {}),
        ...(s.body ? { body: s.body } : {}),
        response: { 202: Accepted },
        startsCommand: true,
        handler: async (req, reply) => ctx.accepted(req, reply, await s.submit(ctx, { params: req.params, query: req.query, body: req.body })),
      }),
  };
}

const capitalized = (word: string) => `${word[0]!.toUpperCase()}${word.slice(1)}`;
const container = (ctx: ApiContext, ref: string) => ctx.name('container', ref);
const environment = (ctx: ApiContext, ref: string) => ctx.name('environment', ref);

/** The table; definitions may name the container kinds `kinds`. */
export function submissions(kinds: readonly string[]): readonly Row[] {
  return [
    row('containers', {
      method: 'POST',
      url: '/v1/containers',
      summary: 'Create a container: reserve its keys, claim capacity on a host, define, provision and start it',
      body: containerCreate(kinds),
      submit: async (ctx, { body: { name, ...args } }) => {
        // A hint that names no host, or a container no host has room for, is refused now rather
        // than failing the command later (422 with the rejection counts).
        if (args.hint) await ctx.node('hypervisor', args.hint);
        return ctx.client.containers.create(name, args, { refuseWithoutRoom: true });
      },
    }),
    ...(['start', 'stop', 'reboot', 'suspend', 'resume', 'reconcile'] as const).map((command) =>
      row('containers', {
        method: 'POST',
        url: `/v1/containers/:ref/${command}`,
        summary: command === 'reconcile' ? 'Ask every host where the container is and make the registry follow (the way out of unknown and missing)' : `${capitalized(command)} a container`,
        params: RefParams,
        body: Empty,
        submit: async (ctx, { params }) => ctx.client.containers[command](await container(ctx, params.ref)),
      }),
    ),
    row('containers', {
      method: 'POST',
      url: '/v1/containers/:ref/shutdown',
      summary: 'Shut a container down gracefully; powered off after timeoutMs',
      params: RefParams,
      body: ShutdownBody,
      submit: async (ctx, { params, body }) => ctx.client.containers.shutdown(await container(ctx, params.ref), body.timeoutMs),
    }),
    row('containers', {
      method: 'POST',
      url: '/v1/containers/:ref/update',
      summary: "Change a stopped container's resources or image",
      params: RefParams,
      body: UpdateBody,
      submit: async (ctx, { params, body }) => ctx.client.containers.update(await container(ctx, params.ref), body),
    }),
    row('containers', {
      method: 'POST',
      url: '/v1/containers/:ref/clone',
      summary: 'Copy a stopped container under a new name, with its own ip and mac',
      params: RefParams,
      body: CloneBody,
      submit: async (ctx, { params, body }) => ctx.client.containers.clone(await container(ctx, params.ref), body),
    }),
    row('containers', {
      method: 'POST',
      url: '/v1/containers/:ref/migrate',
      summary: 'Move a container to another host: live when running, cold when stopped',
      params: RefParams,
      body: MigrateBody,
      submit: async (ctx, { params, body }) => ctx.client.containers.migrate(await container(ctx, params.ref), body),
    }),
    row('containers', {
      method: 'DELETE',
      url: '/v1/containers/:ref',
      summary: 'Destroy a container: remove it from its host and release its keys',
      params: RefParams,
      submit: async (ctx, { params }) => ctx.client.containers.destroy(await container(ctx, params.ref)),
    }),

    row('environments', {
      method: 'POST',
      url: '/v1/environments',
      summary: 'Create an environment: a named group of containers that work together',
      body: environmentCreate(kinds),
      submit: (ctx, { body: { name, ...args } }) => ctx.client.environments.create(name, args),
    }),
    row('environments', {
      method: 'POST',
      url: '/v1/environments/:ref/members',
      summary: 'Add a member: an existing container, or a new one to create; hooks of every member run in priority order',
      params: RefParams,
      body: memberAdd(kinds),
      submit: async (ctx, { params, body }) => {
        if (!!body.container === !!body.create) throw new InvalidInputError([{ field: 'body', problem: 'needs exactly one of container (an existing one) or create (a new one)' }], 'request');
        const name = await environment(ctx, params.ref);
        if (body.create?.hint) await ctx.node('hypervisor', body.create.hint);
        return ctx.client.environments.add(name, body);
      },
    }),
    row('environments', {
      method: 'DELETE',
      url: '/v1/environments/:ref/members/:container',
      summary: 'Remove a member; with destroy=true the container is destroyed too',
      params: EnvironmentMemberParams,
      querystring: MemberRemoveQuery,
      submit: async (ctx, { params, query }) => ctx.client.environments.remove(await environment(ctx, params.ref), params.container, query.destroy === undefined ? {} : { destroy: query.destroy }),
    }),
    row('environments', {
      method: 'POST',
      url: '/v1/environments/:ref/members/:container/down',
      summary: 'Mark a member down with a cause and run the isDown hooks (a balancer is replaced)',
      params: EnvironmentMemberParams,
      body: DownBody,
      submit: async (ctx, { params, body }) => ctx.client.environments.down(await environment(ctx, params.ref), params.container, body.cause),
    }),
    row('environments', {
      method: 'POST',
      url: '/v1/environments/:ref/members/:container/up',
      summary: 'Mark a member up again and run the isUp hooks',
      params: EnvironmentMemberParams,
      body: Empty,
      submit: async (ctx, { params }) => ctx.client.environments.up(await environment(ctx, params.ref), params.container),
    }),
    ...(['start', 'stop', 'suspend', 'resume'] as const).map((command) =>
      row('environments', {
        method: 'POST',
        url: `/v1/environments/:ref/${command}`,
        summary: `${capitalized(command)} every member, in priority order`,
        params: RefParams,
        body: Empty,
        submit: async (ctx, { params }) => ctx.client.environments[command](await environment(ctx, params.ref)),
      }),
    ),
    row('environments', {
      method: 'DELETE',
      url: '/v1/environments/:ref',
      summary: 'Destroy an environment and its members',
      params: RefParams,
      submit: async (ctx, { params }) => ctx.client.environments.destroy(await environment(ctx, params.ref)),
    }),
  ];
}

/** Registers every row, with the kinds of the API's client. */
export function submissionRoutes(app: FastifyInstance, ctx: ApiContext): void {
  for (const r of submissions(ctx.client.kinds.names())) r.register(app, ctx);
}
