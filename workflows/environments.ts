// Environment commands. The workflow only orders the hook calls and runs the commands they ask
// for; the hooks themselves are activities. Every step pushes an idempotent undo first, so a
// failed or denied command leaves the environment and its containers as they were.
import { continueAsNew, patched, proxyActivities, uuid4 } from '@temporalio/workflow';
import type { EnvironmentActivities, EnvironmentView } from '../activities/environments';
import type { CommandArgs, CommandResult, ContainerCommand, CreateArgs } from '../src/domain/commands';
import { resourcesOf } from '../src/domain/types';
import { DeniedError, InvalidInputError, NotFoundError } from '../src/domain/errors';
import {
  type EnvironmentArgs,
  type EnvironmentCommand,
  type EnvironmentRequest,
  type EnvironmentResult,
  type EnvironmentState,
  type NewMember,
  checkEnvironmentRequest,
  describeEnvironmentCommand,
  nextEnvironmentState,
} from '../src/domain/environments';
import { SEARCH_ATTRIBUTE_KEYS, workflowIds } from '../src/domain/names';
import { spreadGroup } from '../src/domain/groups';
import type { HookDecision, HookEvent, Member, RequestedCommand } from '../src/hooks/types';
import { type EntityInput, type EntitySpec, commonShapeProblems, runEntity } from './entity';
import { CLAIM_TTL_SECONDS, CommandRun, registry } from './command-runtime';

const env = proxyActivities<EnvironmentActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '5 seconds' },
});

/** Container commands run on behalf of the environment: as long as they take, with heartbeats. */
const containers = proxyActivities<EnvironmentActivities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 10 },
});

export interface EnvironmentInput<C extends EnvironmentCommand = EnvironmentCommand> {
  readonly request: EnvironmentRequest<C>;
  readonly queued: boolean;
}

/** The environment command in progress: the command run plus what it created. */
class EnvironmentCommandRun {
  readonly cmd: CommandRun;
  readonly created: string[] = [];
  constructor(readonly request: EnvironmentRequest) {
    this.cmd = new CommandRun(request);
  }

  get name(): string {
    return this.request.environment;
  }

  container<C extends ContainerCommand>(container: string, command: C, args: CommandArgs[C], ifExists = false, commandId = uuid4()): Promise<CommandResult | null> {
    return containers.runContainerCommand({ commandId, container, command, args, environment: this.name, ifExists });
  }

  /** Calls handlers in order; a deny fails the command; requested commands run before it goes on. */
  async hooks(event: HookEvent, calls: ReadonlyArray<{ self: Member; other?: Member }>, cause?: string): Promise<void> {
    for (const { self, other } of calls) {
      const decision: HookDecision = await this.cmd.step(`${event}: ${self.name}${other ? ` about ${other.name}` : ''}`, () =>
        env.runHook({ commandId: this.request.commandId, environment: this.name, event, self, other, cause }),
      );
      if (!decision.allow) throw new DeniedError(`${self.name} (${self.kind})`, decision.reason);
      for (const requested of decision.run ?? []) await this.runRequested(requested, self);
    }
  }

  private async runRequested(requested: RequestedCommand, by: Member): Promise<void> {
    if (requested.run === 'add') {
      const kind = await env.kindInfo(requested.kind);
      const name = requested.name ?? `${this.name}-${kind.name}-${uuid4().slice(0, 6)}`;
      const create: NewMember = { name, definition: { ...kind.defaults, ...(requested.definition ?? {}), kind: kind.name } };
      await addMember(this, { create }, requested.avoidHost ? [requested.avoidHost] : []);
    } else {
      await replaceMember(this, requested.member, by);
    }
  }
}

/** Others first by priority, lowest first; the newcomer is asked before them by the caller. */
function others(view: EnvironmentView, exceptId: string): Member[] {
  return view.members.filter((m) => m.id !== exceptId);
}

/** How a new member is created: in its environment's group, spread from its kind, apart from all when the environment asks. */
function memberCreateArgs(view: EnvironmentView, create: NewMember, avoidHosts: readonly string[]): CreateArgs {
  const group = `env:${view.id}`;
  return {
    definition: create.definition,
    hint: create.hint,
    groups: [group, spreadGroup(group, create.definition.kind)],
    ...(view.definition.antiAffinity ? { antiAffinity: [group] } : {}),
    ...(avoidHosts.length ? { exclude: avoidHosts } : {}),
  };
}

/**
 * Adds an existing or new container, with its hooks; the whole add happens or none of it.
 * `createCommandId`: the id of the new container's create, when its capacity was claimed already.
 */
async function addMember(run: EnvironmentCommandRun, args: EnvironmentArgs['add'], avoidHosts: readonly string[] = [], createCommandId?: string): Promise<Member> {
  const { cmd } = run;
  const view = await env.loadEnvironment(run.name);
  let newcomer: Member;
  if (args.container) {
    newcomer = await env.memberOf({ container: args.container });
    if (view.members.some((m) => m.id === newcomer.id)) throw new InvalidInputError([{ field: 'container', problem: `${newcomer.name} is already in ${run.name}` }]);
  } else {
    const kind = await env.kindInfo(args.create!.definition.kind);
    newcomer = { id: '', name: args.create!.name, kind: kind.name, priority: kind.priority, ip: args.create!.definition.network?.ip ?? '', state: 'new' };
  }

  await run.hooks('beforeItIsAdded', [{ self: newcomer }]);
  const current = await env.loadEnvironment(run.name);
  await run.hooks(
    'beforeOtherIsAdded',
    others(current, newcomer.id).map((m) => ({ self: m, other: newcomer })),
  );

  if (args.create) {
    const createArgs = memberCreateArgs(view, args.create, avoidHosts);
    await cmd.step(
      `create ${args.create.name}`,
      () => run.container(args.create!.name, 'create', createArgs, false, createCommandId),
      () => run.container(args.create!.name, 'destroy', {}, true),
    );
    run.created.push(args.create.name);
    newcomer = await env.memberOf({ container: args.create.name });
  }

  await cmd.step(
    `${newcomer.name} joins ${run.name}`,
    () => env.addMembership({ environment: run.name, member: newcomer }),
    () => env.removeMembership({ environment: run.name, containerId: newcomer.id }),
  );
  const joined = await env.loadEnvironment(run.name);
  const self = joined.members.find((m) => m.id === newcomer.id) ?? newcomer;
  // If anything after this fails, the others forget the newcomer again.
  await cmd.step(
    `tell ${self.name} it was added`,
    () => run.hooks('afterItIsAdded', [{ self }]),
    () => run.hooks('afterOtherIsRemoved', others(joined, self.id).map((m) => ({ self: m, other: self }))),
  );
  await run.hooks(
    'afterOtherIsAdded',
    others(joined, self.id).map((m) => ({ self: m, other: self })),
  );
  return self;
}

/** Replaces a member that is down with a new one of its kind on another host; the old copy becomes illegal. */
async function replaceMember(run: EnvironmentCommandRun, name: string, old: Member): Promise<void> {
  const kind = await env.kindInfo(old.kind);
  const replacement = `${run.name}-${kind.name}-${uuid4().slice(0, 6)}`;
  await run.cmd.step(
    `${name} leaves ${run.name}`,
    () => env.removeMembership({ environment: run.name, containerId: old.id }),
    () => env.addMembership({ environment: run.name, member: old }),
  );
  await addMember(run, { create: { name: replacement, definition: { ...kind.defaults, kind: kind.name } } }, old.host ? [old.host] : []);
  await run.cmd.step(`mark ${name} illegal for the collector`, () =>
    env.markContainer({ container: name, state: 'illegal', cause: `replaced by ${replacement}`, commandId: run.request.commandId, replacedBy: replacement }),
  );
}

async function removeMember(run: EnvironmentCommandRun, args: EnvironmentArgs['remove']): Promise<void> {
  const view = await env.loadEnvironment(run.name);
  const member = view.members.find((m) => m.name === args.container);
  if (!member) throw new NotFoundError(`member of ${run.name}`, args.container);
  await run.hooks('beforeItIsRemoved', [{ self: member }]);
  await run.cmd.step(
    `${member.name} leaves ${run.name}`,
    () => env.removeMembership({ environment: run.name, containerId: member.id }),
    () => env.addMembership({ environment: run.name, member }),
  );
  const rest = others(view, member.id);
  await run.cmd.step(
    `tell the others ${member.name} left`,
    () => run.hooks('afterOtherIsRemoved', rest.map((m) => ({ self: m, other: member }))),
    () => run.hooks('afterOtherIsAdded', rest.map((m) => ({ self: m, other: member }))),
  );
  if (args.destroy) {
    run.cmd.pointOfNoReturn();
    await run.cmd.step(`destroy ${member.name}`, () => run.container(member.name, 'destroy', {}, true));
  }
}

const POWER: Record<'start' | 'stop' | 'suspend' | 'resume', { from: string[]; command: ContainerCommand; undo: ContainerCommand; reverse: boolean }> = {
  start: { from: ['stopped'], command: 'start', undo: 'stop', reverse: false },
  resume: { from: ['suspended'], command: 'resume', undo: 'suspend', reverse: false },
  stop: { from: ['running', 'suspended'], command: 'stop', undo: 'start', reverse: true },
  suspend: { from: ['running'], command: 'suspend', undo: 'resume', reverse: true },
};

/** Starts in priority order (databases, web servers, balancers) and stops in the reverse. */
async function powerAll(run: EnvironmentCommandRun, op: keyof typeof POWER): Promise<void> {
  const p = POWER[op];
  const view = await env.loadEnvironment(run.name);
  const order = p.reverse ? [...view.members].reverse() : view.members;
  for (const m of order) {
    if (!p.from.includes(m.state)) continue;
    await run.cmd.step(
      `${op} ${m.name} (${m.kind})`,
      () => run.container(m.name, p.command, {}),
      () => run.container(m.name, p.undo, {}),
    );
  }
}

async function destroyAll(run: EnvironmentCommandRun): Promise<void> {
  const view = await env.loadEnvironment(run.name);
  run.cmd.pointOfNoReturn();
  for (const m of [...view.members].reverse()) {
    await run.cmd.step(`destroy ${m.name} (${m.kind})`, async () => {
      await env.removeMembership({ environment: run.name, containerId: m.id });
      await run.container(m.name, 'destroy', {}, true);
    });
  }
  await run.cmd.step(`remove environment ${run.name}`, () => env.removeEnvironment(run.name));
}

async function memberDown(run: EnvironmentCommandRun, args: EnvironmentArgs['down']): Promise<void> {
  const view = await env.loadEnvironment(run.name);
  const member = view.members.find((m) => m.name === args.container);
  if (!member) throw new NotFoundError(`member of ${run.name}`, args.container);
  await run.cmd.step(`mark ${member.name} lost: ${args.cause}`, () =>
    env.markContainer({ container: member.name, state: 'lost', cause: args.cause, commandId: run.request.commandId, ...(args.host ? { host: args.host } : {}) }),
  );
  const down = { ...member, state: 'lost' };
  await run.hooks('isDown', [{ self: down }], args.cause);
  const after = await env.loadEnvironment(run.name);
  await run.hooks('isDown', others(after, member.id).map((m) => ({ self: m, other: down })), args.cause);
}

async function memberUp(run: EnvironmentCommandRun, args: EnvironmentArgs['up']): Promise<void> {
  const view = await env.loadEnvironment(run.name);
  const member = view.members.find((m) => m.name === args.container);
  if (!member) throw new NotFoundError(`member of ${run.name}`, args.container);
  await run.hooks('isUp', [{ self: member }]);
  await run.hooks('isUp', others(view, member.id).map((m) => ({ self: m, other: member })));
}

async function controllerEvent(run: EnvironmentCommandRun, args: EnvironmentArgs['controller']): Promise<void> {
  const view = await env.loadEnvironment(run.name);
  const order = args.event === 'beforeControllerStop' ? [...view.members].reverse() : view.members;
  await run.hooks(args.event, order.map((self) => ({ self })));
}

/**
 * Creates the environment, then its members all or nothing: one claim for every member, in one
 * registry transaction, before any is built (a member that does not fit fails the create with
 * nothing claimed). Each member's create finds its claim made, by its command id; the claims not
 * yet committed are released when the create fails.
 */
async function createEnvironment(run: EnvironmentCommandRun, args: EnvironmentArgs['create']): Promise<void> {
  const members = args.members ?? [];
  const withMembers = members.length > 0 && patched('environment-members-all-or-nothing');
  await run.cmd.step(
    `create environment ${run.name}`,
    () => env.provisionEnvironment({ id: uuid4(), name: run.name, args }),
    withMembers ? () => env.removeEnvironment(run.name) : undefined,
  );
  if (!withMembers) return;
  const view = await env.loadEnvironment(run.name);
  const kinds = await Promise.all(members.map((m) => env.kindInfo(m.definition.kind)));
  // Databases first, then web servers, then balancers, as start does: each hears of those before it.
  const order = members.map((m, i) => ({ member: m, priority: kinds[i]!.priority, commandId: uuid4() })).sort((a, b) => a.priority - b.priority);
  const commandIds = order.map((o) => o.commandId);
  await run.cmd.step(
    `claim capacity for ${order.map((o) => o.member.name).join(', ')}, all or nothing`,
    () =>
      registry.claimPlacements({
        environment: { id: view.id, commandId: run.request.commandId },
        claims: order.map(({ member, commandId }) => {
          const create = memberCreateArgs(view, member, []);
          return {
            commandId,
            containerName: member.name,
            resources: resourcesOf(member.definition),
            requires: member.definition.requires,
            ttlSeconds: CLAIM_TTL_SECONDS,
            hint: create.hint,
            groups: create.groups,
            antiAffinity: create.antiAffinity,
          };
        }),
      }),
    () => registry.releaseClaims(commandIds),
  );
  for (const { member, commandId } of order) await addMember(run, { create: member }, [], commandId);
}

const BODY: { [C in EnvironmentCommand]: (run: EnvironmentCommandRun, args: EnvironmentArgs[C]) => Promise<unknown> } = {
  create: createEnvironment,
  add: (run, args) => addMember(run, args),
  remove: removeMember,
  start: (run) => powerAll(run, 'start'),
  stop: (run) => powerAll(run, 'stop'),
  suspend: (run) => powerAll(run, 'suspend'),
  resume: (run) => powerAll(run, 'resume'),
  destroy: destroyAll,
  down: memberDown,
  up: memberUp,
  controller: controllerEvent,
};

/** Runs one environment command: the child workflow its entity starts. */
export async function environmentCommand(input: EnvironmentInput): Promise<EnvironmentResult> {
  const run = new EnvironmentCommandRun(input.request);
  const { commandId, command, environment } = input.request;
  return run.cmd.run(input.queued, async () => {
    await (BODY[command] as (r: EnvironmentCommandRun, a: unknown) => Promise<unknown>)(run, input.request.args);
    const state: EnvironmentState = command === 'destroy' ? 'destroyed' : 'active';
    return { commandId, command, environment, state, created: run.created };
  });
}

const environmentSpec: EntitySpec<EnvironmentRequest> = {
  checkShape(req, environment) {
    const problems = commonShapeProblems(req);
    if (problems.length) throw new InvalidInputError(problems, 'environment command');
    checkEnvironmentRequest(req, environment);
  },
  next: (state, req) => nextEnvironmentState(state as EnvironmentState, req.command, req.environment),
  terminal: 'destroyed',
  workflowFor: () => environmentCommand,
  childId: (req) => workflowIds.environmentCommand(req.environment, req.command, req.commandId),
  searchAttributes: (req) => [
    { key: SEARCH_ATTRIBUTE_KEYS.environment, value: req.environment },
    { key: SEARCH_ATTRIBUTE_KEYS.command, value: `environment.${req.command}` },
  ],
  describe: describeEnvironmentCommand,
  stateAfter: (result) => (result as EnvironmentResult).state,
  continueAsNew: (input) => continueAsNew<typeof environmentEntity>(input),
};

/** The entity of one environment: its commands run one at a time, in acceptance order. */
export async function environmentEntity(input: EntityInput): Promise<void> {
  return runEntity(environmentSpec, input);
}

