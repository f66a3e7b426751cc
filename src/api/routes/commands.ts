// Commands: listed from Temporal's visibility, read with their progress, cancelled, modified.
// A command's URL is /v1/commands/<workflowId>: `container/web1/migrate/<commandId>`.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { InvalidTransitionError, NotFoundError } from '../../domain/errors';
import { commandLogger } from '../../log';
import type { ApiContext } from '../context';
import * as present from '../present';
import { route } from '../route';
import { CommandListQuery, CommandParams, CommandResource, Empty, ModifyBody, ReorderBody, pageOf, type Body } from '../schemas';

const URL = '/v1/commands/:kind/:target/:command/:commandId';

/** A page of commands: `total` counts this page (older clients read it), `nextPageToken` the next one. */
const CommandPage = Type.Composite([pageOf(CommandResource), Type.Object({ total: Type.Integer() })]);

export function commandRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const tag = 'commands';
  const { webUiUrl, namespace } = ctx.config;
  const handleOf = (p: Body<typeof CommandParams>) => ctx.client.commands.handle(`${p.kind}/${p.target}/${p.command}/${p.commandId}`);

  route(app, {
    method: 'GET',
    url: '/v1/commands',
    role: 'viewer',
    tag,
    summary: 'List commands, newest first, by container, environment, hypervisor, command type or status (Temporal visibility; eventually consistent); a page of `limit`, the next one with `pageToken=<nextPageToken>`',
    querystring: CommandListQuery,
    response: { 200: CommandPage },
    handler: async (req) => {
      const { limit = 50, pageToken, ...filter } = req.query;
      const page = await ctx.client.commands.page({ ...filter, pageSize: limit, ...(pageToken ? { pageToken } : {}) });
      return {
        items: page.items.map((c) => present.command(c, webUiUrl, namespace)),
        total: page.items.length,
        limit,
        ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}),
      };
    },
  });

  route(app, {
    method: 'GET',
    url: URL,
    role: 'viewer',
    tag,
    summary: 'One command: its status, its progress while it runs, its result or error once it ended',
    params: CommandParams,
    response: { 200: CommandResource },
    handler: async (req) => present.command(await handleOf(req.params).describe(), webUiUrl, namespace),
  });

  route(app, {
    method: 'POST',
    url: `${URL}/cancel`,
    role: 'operator',
    tag,
    summary: 'Cancel a command: a queued one leaves the queue; a running one is compensated',
    params: CommandParams,
    body: Empty,
    response: { 202: Type.Object({ workflowId: Type.String(), status: Type.String(), href: Type.String(), webUi: Type.String() }) },
    handler: async (req, reply) => {
      const handle = handleOf(req.params);
      const info = await handle.describe();
      if (info.status !== 'RUNNING') throw new InvalidTransitionError('cancel', handle.workflowId, info.status.toLowerCase(), `the command already ended: ${info.status.toLowerCase()}`);
      await handle.cancel();
      commandLogger(req.log, handle).info({ by: req.principal?.name }, `cancel requested for ${handle.command} ${handle.target}`);
      reply.status(202);
      return { workflowId: handle.workflowId, status: 'cancel requested', href: present.href.command(handle.workflowId), webUi: present.webUi(webUiUrl, namespace, handle.workflowId) };
    },
  });

  route(app, {
    method: 'POST',
    url: `${URL}/reorder`,
    role: 'operator',
    tag,
    summary: "Move a queued command (not yet running) in its container's or environment's queue: position 0 runs next; the new order must still be valid",
    params: CommandParams,
    body: ReorderBody,
    response: { 200: Type.Object({ workflowId: Type.String(), queue: Type.Array(Type.String(), { description: 'the command ids of the queue in their new order, the running one first' }), href: Type.String() }) },
    handler: async (req) => {
      const handle = handleOf(req.params);
      const queue = await handle.reorder(req.body.position);
      commandLogger(req.log, handle).info({ by: req.principal?.name, position: req.body.position }, `${handle.command} ${handle.target} moved in its queue`);
      return { workflowId: handle.workflowId, queue, href: present.href.command(handle.workflowId) };
    },
  });

  route(app, {
    method: 'POST',
    url: `${URL}/modify`,
    role: 'operator',
    tag,
    summary: "Change a pending command: a migration's target, before it has claimed capacity",
    params: CommandParams,
    body: ModifyBody,
    response: { 200: Type.Object({ workflowId: Type.String(), target: Type.Union([Type.String(), Type.Null()]), href: Type.String() }) },
    handler: async (req) => {
      const handle = handleOf(req.params);
      const body = req.body;
      if (handle.kind !== 'container' || handle.command !== 'migrate') throw new InvalidTransitionError('modify', handle.workflowId, handle.command, 'only a migration can be modified (its target)');
      const info = await handle.describe();
      if (info.status !== 'RUNNING') throw new InvalidTransitionError('modify', handle.workflowId, info.status.toLowerCase(), `the command already ended: ${info.status.toLowerCase()}`);
      if (body.target) await ctx.node('hypervisor', body.target).catch(() => Promise.reject(new NotFoundError('hypervisor', body.target!)));
      const out = await handle.modify(body.target === undefined ? {} : { target: body.target });
      commandLogger(req.log, handle).info({ by: req.principal?.name, target: out.target }, `migration ${handle.target} retargeted`);
      return { workflowId: handle.workflowId, target: out.target ?? null, href: present.href.command(handle.workflowId) };
    },
  });
}
