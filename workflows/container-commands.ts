// One workflow per container command. Each is a saga: a step that succeeds pushes its undo,
// and a failure or cancel unwinds them (see command-runtime.ts).
import { patched, setHandler, upsertMemo, uuid4 } from '@temporalio/workflow';
import { MESSAGE_DESCRIPTIONS, retargetUpdate } from '../src/domain/messages';
import { InvalidTransitionError } from '../src/domain/errors';
import { POLICY_UPDATE_FROM, isPolicyUpdate, type CommandResult, type TrackedState, describeCommand } from '../src/domain/commands';
import { META, resourcesOf } from '../src/domain/types';
import type { ContainerDefinition } from '../src/domain/types';
import type { ClaimInput, ContainerContext } from '../activities/registry';
import type { HostRef } from '../src/drivers/driver';
import type { PowerOp } from '../activities/hosts';
import { CLAIM_TTL_SECONDS, CommandRun, type CommandInput, central, hostActivities, registry } from './command-runtime';

/** Claims capacity for a container on a host the allocator picks (undo: release the claim). */
function claimCapacity(cmd: CommandRun, commandId: string, container: ContainerContext, placement: Pick<ClaimInput, 'driver' | 'hint' | 'exclude' | 'groups' | 'antiAffinity'>) {
  const { definition } = container.container;
  return cmd.step(
    'claim capacity',
    () =>
      registry.claimPlacement({
        commandId,
        containerName: container.container.name,
        containerId: container.container.id,
        resources: resourcesOf(definition),
        requires: definition.requires,
        ttlSeconds: CLAIM_TTL_SECONDS,
        ...placement,
      }),
    () => registry.releaseClaim(commandId),
  );
}

/** What every result names: the command and its container. */
function about(input: CommandInput) {
  const { commandId, command, container } = input.request;
  return { commandId, command, container };
}

function hostOf(ctx: ContainerContext, command: string): HostRef {
  if (!ctx.host) throw new InvalidTransitionError(command, ctx.container.name, ctx.container.state, 'it is on no host');
  return ctx.host;
}

export async function createContainer(input: CommandInput<'create'>): Promise<CommandResult> {
  const cmd = new CommandRun(input.request);
  return cmd.run(input.queued, async () => {
    const { commandId, container: name, args } = input.request;
    const id = uuid4();
    cmd.containerId = id;
    const ctx = await cmd.step(
      'register the container and its keys',
      () => registry.provisionContainer({ id, name, args, commandId }),
      () => registry.unprovisionContainer(id),
      { forgets: true },
    );
    const claim = await claimCapacity(cmd, commandId, ctx, { hint: args.hint, exclude: args.exclude, groups: args.groups, antiAffinity: args.antiAffinity });
    const host = claim.host;
    cmd.host = host.name;
    cmd.tagHosts(host.name);
    const hosts = hostActivities(host);
    const state: TrackedState = args.start === false ? 'stopped' : 'running';
    await cmd.step(
      `build on ${host.name}: define, provision${state === 'running' ? ', start' : ''}`,
      () => hosts.containerBuild({ host, spec: ctx.spec, start: state === 'running' }),
      () => hosts.containerRemove({ host, name, uuid: id }),
    );
    await cmd.commit('commit', () => registry.commitPlacement({ commandId, containerId: id, state }));
    return { ...about(input), containerId: id, state, host: host.name };
  });
}

/** Start, stop, suspend, resume, reboot: one driver call and the registry follows. */
async function power(input: CommandInput, op: Exclude<PowerOp, 'undefine' | 'deprovision'>, from: readonly string[], to: TrackedState): Promise<CommandResult> {
    const cmd = new CommandRun(input.request);
    return cmd.run(input.queued, async () => {
      const { commandId, container: name, command } = input.request;
      const ctx = await cmd.step('load', () => registry.loadContainer(name));
      cmd.containerId = ctx.container.id;
      await registry.expectState({ containerId: ctx.container.id, command, allowed: from });
      const host = hostOf(ctx, command);
      cmd.host = host.name;
      cmd.tagHosts(host.name);
      await cmd.step(`${op} on ${host.name}`, () => hostActivities(host).containerPower({ host, name, op, uuid: ctx.container.id }));
      await cmd.commit('record the new state', () => registry.setContainerState({ containerId: ctx.container.id, state: to, commandId }));
      return { ...about(input), containerId: ctx.container.id, state: to, host: host.name };
    });
}

// Workflow types are named after their functions: each command is a named function.
export async function startContainer(input: CommandInput<'start'>): Promise<CommandResult> {
  return power(input, 'start', ['stopped'], 'running');
}
export async function stopContainer(input: CommandInput<'stop'>): Promise<CommandResult> {
  return power(input, 'stop', ['running', 'suspended'], 'stopped');
}
export async function rebootContainer(input: CommandInput<'reboot'>): Promise<CommandResult> {
  return power(input, 'reboot', ['running'], 'running');
}
export async function suspendContainer(input: CommandInput<'suspend'>): Promise<CommandResult> {
  return power(input, 'suspend', ['running'], 'suspended');
}
export async function resumeContainer(input: CommandInput<'resume'>): Promise<CommandResult> {
  return power(input, 'resume', ['suspended'], 'running');
}

export async function shutdownContainer(input: CommandInput<'shutdown'>): Promise<CommandResult> {
  const cmd = new CommandRun(input.request);
  return cmd.run(input.queued, async () => {
    const { commandId, container: name, args } = input.request;
    const ctx = await cmd.step('load', () => registry.loadContainer(name));
    cmd.containerId = ctx.container.id;
    await registry.expectState({ containerId: ctx.container.id, command: 'shutdown', allowed: ['running'] });
    const host = hostOf(ctx, 'shutdown');
    cmd.host = host.name;
    cmd.tagHosts(host.name);
    await cmd.step(`shut down on ${host.name}`, () => hostActivities(host).containerShutdown({ host, name, timeoutMs: args.timeoutMs ?? 60_000, uuid: ctx.container.id }));
    await cmd.commit('record the new state', () => registry.setContainerState({ containerId: ctx.container.id, state: 'stopped', commandId }));
    return { ...about(input), containerId: ctx.container.id, state: 'stopped', host: host.name };
  });
}

export async function updateContainer(input: CommandInput<'update'>): Promise<CommandResult> {
  const cmd = new CommandRun(input.request);
  return cmd.run(input.queued, async () => {
    const { container: name, args } = input.request;
    const ctx = await cmd.step('load', () => registry.loadContainer(name));
    cmd.containerId = ctx.container.id;
    if (isPolicyUpdate(args) && patched('update-policy-only')) {
      // The HA policy lives in the registry only: no stop, nothing on the host.
      const state = (await registry.expectState({ containerId: ctx.container.id, command: 'update', allowed: POLICY_UPDATE_FROM })) as TrackedState;
      const before = ctx.container.definition;
      await cmd.step(
        `change the HA policy (${Object.keys(args.definition).join(', ')})`,
        () => registry.setDefinition({ containerId: ctx.container.id, definition: { ...before, ...args.definition } }),
        () => registry.setDefinition({ containerId: ctx.container.id, definition: before }),
      );
      return { ...about(input), containerId: ctx.container.id, state, host: ctx.host?.name };
    }
    await registry.expectState({ containerId: ctx.container.id, command: 'update', allowed: ['stopped'] });
    const before = ctx.container.definition;
    const after: ContainerDefinition = { ...before, ...args.definition, kind: before.kind, network: before.network };
    await cmd.step(
      'change the definition (capacity re-checked)',
      () => registry.setDefinition({ containerId: ctx.container.id, definition: after }),
      () => registry.setDefinition({ containerId: ctx.container.id, definition: before }),
    );
    if (ctx.host) {
      const host = ctx.host;
      cmd.host = host.name;
      cmd.tagHosts(host.name);
      const hosts = hostActivities(host);
      // Undo order matters: the new definition goes first, then the old one comes back.
      const uuid = ctx.container.id;
      await cmd.step(`undefine the old definition on ${host.name}`, () => hosts.containerPower({ host, name, op: 'undefine', uuid }), () => hosts.containerDefine({ host, spec: ctx.spec }));
      await cmd.step(`define the new definition on ${host.name}`, () => hosts.containerDefine({ host, spec: { ...ctx.spec, definition: after } }), () => hosts.containerPower({ host, name, op: 'undefine', uuid }));
    }
    return { ...about(input), containerId: ctx.container.id, state: 'stopped', host: ctx.host?.name };
  });
}

export async function destroyContainer(input: CommandInput<'destroy'>): Promise<CommandResult> {
  const cmd = new CommandRun(input.request);
  return cmd.run(input.queued, async () => {
    const { commandId, container: name } = input.request;
    const ctx = await cmd.step('load', () => registry.loadContainer(name));
    const state = ctx.container.state;
    const uuid = ctx.container.id;
    if ((state === 'missing' || state === 'unknown') && patched('destroy-flagged-copies')) {
      // Where its VM is is not verified: every copy the hosts report is removed.
      cmd.pointOfNoReturn();
      const { found } = await cmd.step('look for its VM on every host', async () => central.containerLocate({ hosts: await registry.allHosts(), name, uuid }));
      cmd.tagHosts(...found.map((f) => f.host.name));
      for (const { host } of found) await cmd.step(`wipe and undefine on ${host.name}`, () => hostActivities(host).containerRemove({ host, name, uuid }));
    } else if (ctx.host && state !== 'lost' && state !== 'illegal') {
      // A lost or illegal container's host does not answer; the collector removes its copy later.
      const host = ctx.host;
      const hosts = hostActivities(host);
      cmd.host = host.name;
      cmd.tagHosts(host.name);
      // Only a VM seen on its host is destroyed there; one that is not there fails the command
      // (the monitor flags it missing) rather than hiding the loss.
      if (patched('destroy-verifies')) await cmd.step(`find it on ${host.name}`, () => hosts.containerVerify({ host, name, uuid }));
      if (state === 'running' || state === 'suspended') {
        await cmd.step(`stop on ${host.name}`, () => hosts.containerPower({ host, name, op: 'stop', uuid }), async () => {
          await hosts.containerPower({ host, name, op: 'start', uuid });
          if (state === 'suspended') await hosts.containerPower({ host, name, op: 'suspend', uuid });
        });
        await cmd.step(
          'record stopped',
          () => registry.setContainerState({ containerId: ctx.container.id, state: 'stopped', commandId }),
          () => registry.setContainerState({ containerId: ctx.container.id, state, commandId }),
        );
      }
      // Wiping the disk cannot be undone: from here the command only moves forward.
      cmd.pointOfNoReturn();
      await cmd.step(`wipe and undefine on ${host.name}`, () => hosts.containerRemove({ host, name, uuid }));
    }
    cmd.pointOfNoReturn();
    await cmd.commit('remove from the registry; its keys are free', () => registry.removeContainer(ctx.container.id));
    return { ...about(input), containerId: ctx.container.id, state: 'destroyed', host: ctx.host?.name };
  });
}

/**
 * Asks every host where the container is and makes the registry follow: the one way out of
 * `unknown` and `missing` besides destroy, and a check an operator may run at any time.
 */
export async function reconcileContainer(input: CommandInput<'reconcile'>): Promise<CommandResult> {
  const cmd = new CommandRun(input.request);
  return cmd.run(input.queued, async () => {
    const { commandId, container: name } = input.request;
    const ctx = await cmd.step('load', () => registry.loadContainer(name));
    const uuid = ctx.container.id;
    const { found, unanswered } = await cmd.step('look for its VM on every host', async () => central.containerLocate({ hosts: await registry.allHosts(), name, uuid }));
    cmd.tagHosts(ctx.host?.name, ...found.map((f) => f.host.name));
    const settled = await cmd.commit('record where it is', () =>
      registry.settleContainer({
        containerId: uuid,
        commandId,
        found: found.map((f) => ({ hostId: f.host.id, hostName: f.host.name, state: f.seen.state })),
        unanswered,
      }),
    );
    cmd.host = settled.host;
    return { ...about(input), containerId: uuid, state: settled.state as TrackedState, host: settled.host };
  });
}

export async function cloneContainer(input: CommandInput<'clone'>): Promise<CommandResult> {
  const cmd = new CommandRun(input.request);
  return cmd.run(input.queued, async () => {
    const { commandId, container: name, args } = input.request;
    const source = await cmd.step('load', () => registry.loadContainer(name));
    await registry.expectState({ containerId: source.container.id, command: 'clone', allowed: ['stopped'] });
    const sourceHost = hostOf(source, 'clone');
    const id = uuid4();
    cmd.containerId = id;
    const clone = await cmd.step(
      `register ${args.name} and its keys`,
      () => registry.provisionClone({ id, sourceId: source.container.id, name: args.name, ip: args.ip, mac: args.mac, tags: args.tags }),
      () => registry.unprovisionContainer(id),
      { forgets: true },
    );
    const claim = await claimCapacity(cmd, commandId, clone, { driver: sourceHost.definition.driver, hint: args.hint });
    const target = claim.host;
    cmd.host = sourceHost.name;
    cmd.target = target.name;
    cmd.tagHosts(sourceHost.name, target.name);
    const hosts = hostActivities(target);
    await cmd.step(
      `copy to ${target.name}`,
      () => hosts.containerClone({ source: sourceHost, sourceName: name, target, spec: clone.spec }),
      () => hosts.containerRemove({ host: target, name: args.name, uuid: id }),
    );
    await cmd.commit('commit', () => registry.commitPlacement({ commandId, containerId: id, state: 'stopped' }));
    return {
      ...about(input),
      containerId: source.container.id,
      state: 'stopped',
      host: sourceHost.name,
      created: { id, name: args.name, host: target.name },
    };
  });
}

/**
 * Rebuilds a container whose host went down on another host, from its definition, in the state it
 * had (running or stopped; a suspended one's memory died with its host, so it starts afresh). Its
 * name, keys, addresses and uuid stay; its disk is provisioned anew from its image. The host was
 * fenced first, so the old copy cannot run; when that host rejoins, its copy is a stale copy the
 * collector removes once this one has been seen alive.
 */
export async function failoverContainer(input: CommandInput<'failover'>): Promise<CommandResult> {
  const cmd = new CommandRun(input.request);
  return cmd.run(input.queued, async () => {
    const { commandId, container: name, args } = input.request;
    const ctx = await cmd.step('load', () => registry.loadContainer(name));
    cmd.containerId = ctx.container.id;
    await registry.expectState({ containerId: ctx.container.id, command: 'failover', allowed: ['lost'] });
    const before = ctx.container.metadata[META.stateBeforeLost];
    const state: TrackedState = before === 'stopped' ? 'stopped' : 'running';
    cmd.host = args.from;
    const groups = (ctx.container.metadata[META.groups] as string[] | undefined) ?? undefined;
    const claim = await claimCapacity(cmd, commandId, ctx, { driver: ctx.host?.definition.driver, exclude: [ctx.host?.id ?? args.from], groups });
    const dest = claim.host;
    cmd.target = dest.name;
    cmd.tagHosts(args.from, dest.name);
    const hosts = hostActivities(dest);
    await cmd.step(
      `rebuild on ${dest.name} from its definition${state === 'running' ? ', start' : ''}`,
      () => hosts.containerBuild({ host: dest, spec: ctx.spec, start: state === 'running' }),
      () => hosts.containerRemove({ host: dest, name, uuid: ctx.container.id }),
    );
    await cmd.commit(`commit: ${name} is on ${dest.name}`, () =>
      registry.commitPlacement({ commandId, containerId: ctx.container.id, state, cause: `failover from ${args.from} (${args.cause})` }),
    );
    return { ...about(input), containerId: ctx.container.id, state, host: dest.name };
  });
}

export async function migrateContainer(input: CommandInput<'migrate'>): Promise<CommandResult> {
  const cmd = new CommandRun(input.request);
  let target = input.request.args.target;
  let claimed = false;
  setHandler(
    retargetUpdate,
    (change) => {
      target = change.target;
      cmd.target = target;
      // The summary read by lists and the Web UI names the new target.
      if (patched('retarget-updates-memo')) upsertMemo({ summary: describeCommand({ ...input.request, args: { ...input.request.args, target } }) });
      return { target };
    },
    {
      validator: (change) => {
        if (claimed) throw new Error(`the migration has already claimed capacity on ${cmd.target}; cancel it and migrate again`);
        if (change.target !== undefined && (typeof change.target !== 'string' || !change.target)) throw new Error('target must be a host name or id');
      },
      description: MESSAGE_DESCRIPTIONS.retarget,
    },
  );
  cmd.target = target;
  return cmd.run(input.queued, async () => {
    const { commandId, container: name, args } = input.request;
    const ctx = await cmd.step('load', () => registry.loadContainer(name));
    cmd.containerId = ctx.container.id;
    const state = await registry.expectState({ containerId: ctx.container.id, command: 'migrate', allowed: ['running', 'stopped'] });
    const source = hostOf(ctx, 'migrate');
    cmd.host = source.name;
    if (target) {
      const hinted = await registry.loadHost(target);
      if (hinted.id === source.id) throw new InvalidTransitionError('migrate', name, state, `it is already on ${source.name}`);
    }
    claimed = true; // from here on the target is fixed
    const claim = await claimCapacity(cmd, commandId, ctx, { driver: source.definition.driver, hint: target, exclude: [source.id], groups: (ctx.container.metadata[META.groups] as string[] | undefined) ?? undefined });
    const dest = claim.host;
    cmd.target = dest.name;
    cmd.tagHosts(source.name, dest.name);
    const atSource = hostActivities(source);
    const atDest = hostActivities(dest);
    const coldWhileRunning = state === 'running' && args.cold === true;
    if (coldWhileRunning) {
      await cmd.step(`stop on ${source.name} for a cold move`, () => atSource.containerPower({ host: source, name, op: 'stop', uuid: ctx.container.id }), () => atSource.containerPower({ host: source, name, op: 'start', uuid: ctx.container.id }));
    }
    const live = state === 'running' && !coldWhileRunning;
    await cmd.step(
      `${live ? 'live' : 'cold'} migrate ${source.name} → ${dest.name}`,
      () => atSource.containerMigrate({ source, target: dest, spec: ctx.spec, live }),
      // A no-op when it never moved: the activity checks where the container is first.
      () => atDest.containerMigrate({ source: dest, target: source, spec: ctx.spec, live }),
    );
    if (coldWhileRunning) {
      await cmd.step(`start on ${dest.name}`, () => atDest.containerPower({ host: dest, name, op: 'start', uuid: ctx.container.id }), () => atDest.containerPower({ host: dest, name, op: 'stop', uuid: ctx.container.id }));
    }
    await cmd.commit(`commit: ${name} is on ${dest.name}`, () => registry.commitPlacement({ commandId, containerId: ctx.container.id, state }));
    return { ...about(input), containerId: ctx.container.id, state: state as TrackedState, host: dest.name };
  });
}
