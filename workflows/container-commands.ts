// One workflow per container command. Each is a saga: a step that succeeds pushes its undo,
// and a failure or cancel unwinds them (see kit.ts).
import { defineUpdate, setHandler, uuid4 } from '@temporalio/workflow';
import { InvalidTransitionError } from '../src/domain/errors';
import type { CommandResult, TrackedState } from '../src/domain/commands';
import { resourcesOf } from '../src/domain/types';
import type { ContainerDefinition } from '../src/domain/types';
import type { ContainerContext } from '../activities/registry';
import type { HostRef } from '../src/drivers/driver';
import type { PowerOp } from '../activities/hosts';
import { CLAIM_TTL_SECONDS, Command, type CommandInput, hostActivities, registry } from './kit';

function hostOf(ctx: ContainerContext, command: string): HostRef {
  if (!ctx.host) throw new InvalidTransitionError(command, ctx.container.name, ctx.container.state, 'it is on no host');
  return ctx.host;
}

export async function createContainer(input: CommandInput<'create'>): Promise<CommandResult> {
  const cmd = new Command(input.request);
  return cmd.run(input.queued, async () => {
    const { commandId, container: name, args } = input.request;
    const id = uuid4();
    cmd.begin('register the container and its keys');
    const ctx = await registry.provisionContainer({ id, name, args, commandId });
    cmd.did(`registered ${name} (ip ${ctx.container.definition.network.ip})`, () => registry.unprovisionContainer(id));

    cmd.begin('claim capacity');
    const claim = await registry.claimPlacement({
      commandId,
      containerName: name,
      containerId: id,
      resources: resourcesOf(ctx.container.definition),
      requires: ctx.container.definition.requires,
      hint: args.hint,
      groups: args.groups,
      antiAffinity: args.antiAffinity,
      ttlSeconds: CLAIM_TTL_SECONDS,
    });
    const host = claim.host;
    cmd.host = host.name;
    cmd.tagHosts(host.name);
    cmd.did(`claimed capacity on ${host.name}`, async () => void (await registry.releaseClaim(commandId)));

    const hosts = hostActivities(host);
    cmd.begin(`define on ${host.name}`);
    await hosts.containerDefine({ host, spec: ctx.spec });
    cmd.did(`defined on ${host.name}`, () => hosts.containerRemove({ host, name }));
    cmd.begin('provision its disk');
    await hosts.containerProvision({ host, spec: ctx.spec });
    cmd.did('provisioned its disk');
    const state: TrackedState = args.start === false ? 'stopped' : 'running';
    if (state === 'running') {
      cmd.begin('start');
      await hosts.containerPower({ host, name, op: 'start' });
      cmd.did('started', () => hosts.containerPower({ host, name, op: 'stop' }));
    }
    cmd.begin('commit');
    await registry.commitPlacement({ commandId, containerId: id, state });
    cmd.did('committed');
    return { containerId: id, state, host: host.name };
  });
}

/** Start, stop, suspend, resume, reboot: one driver call and the registry follows. */
function powerCommand(op: Exclude<PowerOp, 'undefine' | 'deprovision'>, from: readonly string[], to: TrackedState) {
  return async (input: CommandInput): Promise<CommandResult> => {
    const cmd = new Command(input.request);
    return cmd.run(input.queued, async () => {
      const { commandId, container: name, command } = input.request;
      cmd.begin('load');
      const ctx = await registry.loadContainer(name);
      await registry.expectState({ containerId: ctx.container.id, command, allowed: from });
      const host = hostOf(ctx, command);
      cmd.host = host.name;
      cmd.tagHosts(host.name);
      cmd.begin(`${op} on ${host.name}`);
      await hostActivities(host).containerPower({ host, name, op });
      cmd.did(`${op} on ${host.name}`);
      await registry.setContainerState({ containerId: ctx.container.id, state: to, commandId });
      return { containerId: ctx.container.id, state: to, host: host.name };
    });
  };
}

export const startContainer = powerCommand('start', ['stopped'], 'running');
export const stopContainer = powerCommand('stop', ['running', 'suspended'], 'stopped');
export const rebootContainer = powerCommand('reboot', ['running'], 'running');
export const suspendContainer = powerCommand('suspend', ['running'], 'suspended');
export const resumeContainer = powerCommand('resume', ['suspended'], 'running');

export async function shutdownContainer(input: CommandInput<'shutdown'>): Promise<CommandResult> {
  const cmd = new Command(input.request);
  return cmd.run(input.queued, async () => {
    const { commandId, container: name, args } = input.request;
    cmd.begin('load');
    const ctx = await registry.loadContainer(name);
    await registry.expectState({ containerId: ctx.container.id, command: 'shutdown', allowed: ['running'] });
    const host = hostOf(ctx, 'shutdown');
    cmd.host = host.name;
    cmd.tagHosts(host.name);
    cmd.begin(`shut down on ${host.name}`);
    await hostActivities(host).containerShutdown({ host, name, timeoutMs: args.timeoutMs ?? 60_000 });
    cmd.did(`shut down on ${host.name}`);
    await registry.setContainerState({ containerId: ctx.container.id, state: 'stopped', commandId });
    return { containerId: ctx.container.id, state: 'stopped', host: host.name };
  });
}

export async function updateContainer(input: CommandInput<'update'>): Promise<CommandResult> {
  const cmd = new Command(input.request);
  return cmd.run(input.queued, async () => {
    const { container: name, args } = input.request;
    cmd.begin('load');
    const ctx = await registry.loadContainer(name);
    await registry.expectState({ containerId: ctx.container.id, command: 'update', allowed: ['stopped'] });
    const before = ctx.container.definition;
    const after: ContainerDefinition = { ...before, ...args.definition, kind: before.kind, network: before.network };
    cmd.begin('change the definition (capacity re-checked)');
    await registry.setDefinition({ containerId: ctx.container.id, definition: after });
    cmd.did('changed the definition', () => registry.setDefinition({ containerId: ctx.container.id, definition: before }));
    if (ctx.host) {
      const host = ctx.host;
      cmd.host = host.name;
      cmd.tagHosts(host.name);
      const hosts = hostActivities(host);
      cmd.begin(`redefine on ${host.name}`);
      await hosts.containerPower({ host, name, op: 'undefine' });
      cmd.did(`undefined the old definition on ${host.name}`, () => hosts.containerDefine({ host, spec: ctx.spec }));
      await hosts.containerDefine({ host, spec: { ...ctx.spec, definition: after } });
      cmd.did(`defined the new definition on ${host.name}`, () => hosts.containerPower({ host, name, op: 'undefine' }));
    }
    return { containerId: ctx.container.id, state: 'stopped', host: ctx.host?.name };
  });
}

export async function destroyContainer(input: CommandInput<'destroy'>): Promise<CommandResult> {
  const cmd = new Command(input.request);
  return cmd.run(input.queued, async () => {
    const { commandId, container: name } = input.request;
    cmd.begin('load');
    const ctx = await registry.loadContainer(name);
    const state = ctx.container.state;
    // A lost or illegal container's host does not answer; the collector removes its copy later.
    if (ctx.host && state !== 'lost' && state !== 'illegal') {
      const host = ctx.host;
      const hosts = hostActivities(host);
      cmd.host = host.name;
      cmd.tagHosts(host.name);
      if (state === 'running' || state === 'suspended') {
        cmd.begin(`stop on ${host.name}`);
        await hosts.containerPower({ host, name, op: 'stop' });
        cmd.did(`stopped on ${host.name}`, async () => {
          await hosts.containerPower({ host, name, op: 'start' });
          if (state === 'suspended') await hosts.containerPower({ host, name, op: 'suspend' });
        });
        await registry.setContainerState({ containerId: ctx.container.id, state: 'stopped', commandId });
        cmd.did('recorded stopped', () => registry.setContainerState({ containerId: ctx.container.id, state, commandId }));
      }
      cmd.begin(`wipe and undefine on ${host.name}`);
      cmd.pointOfNoReturn();
      await hosts.containerRemove({ host, name });
      cmd.did(`wiped and undefined on ${host.name}`);
    }
    cmd.pointOfNoReturn();
    cmd.begin('remove from the registry');
    await registry.removeContainer(ctx.container.id);
    cmd.did('removed from the registry; its keys are free');
    return { containerId: ctx.container.id, state: 'destroyed', host: ctx.host?.name };
  });
}

export async function cloneContainer(input: CommandInput<'clone'>): Promise<CommandResult> {
  const cmd = new Command(input.request);
  return cmd.run(input.queued, async () => {
    const { commandId, container: name, args } = input.request;
    cmd.begin('load');
    const source = await registry.loadContainer(name);
    await registry.expectState({ containerId: source.container.id, command: 'clone', allowed: ['stopped'] });
    const sourceHost = hostOf(source, 'clone');
    const id = uuid4();
    cmd.begin(`register ${args.name} and its keys`);
    const clone = await registry.provisionClone({ id, sourceId: source.container.id, name: args.name, ip: args.ip, mac: args.mac, tags: args.tags });
    cmd.did(`registered ${args.name} (ip ${clone.container.definition.network.ip})`, () => registry.unprovisionContainer(id));

    cmd.begin('claim capacity');
    const claim = await registry.claimPlacement({
      commandId,
      containerName: args.name,
      containerId: id,
      resources: resourcesOf(clone.container.definition),
      driver: sourceHost.definition.driver,
      requires: clone.container.definition.requires,
      hint: args.hint,
      ttlSeconds: CLAIM_TTL_SECONDS,
    });
    const target = claim.host;
    cmd.host = sourceHost.name;
    cmd.target = target.name;
    cmd.tagHosts(sourceHost.name, target.name);
    cmd.did(`claimed capacity on ${target.name}`, async () => void (await registry.releaseClaim(commandId)));

    const hosts = hostActivities(target);
    cmd.begin(`copy to ${target.name}`);
    await hosts.containerClone({ source: sourceHost, sourceName: name, target, spec: clone.spec });
    cmd.did(`copied to ${target.name}`, () => hosts.containerRemove({ host: target, name: args.name }));
    cmd.begin('commit');
    await registry.commitPlacement({ commandId, containerId: id, state: 'stopped' });
    cmd.did('committed');
    return {
      containerId: source.container.id,
      state: 'stopped',
      host: sourceHost.name,
      created: { id, name: args.name, host: target.name },
    };
  });
}

export interface RetargetArgs {
  readonly target?: string;
}
/** Changes a migration's target before its placeholder is claimed. */
export const retargetUpdate = defineUpdate<{ target?: string }, [RetargetArgs]>('retarget');

export async function migrateContainer(input: CommandInput<'migrate'>): Promise<CommandResult> {
  const cmd = new Command(input.request);
  let target = input.request.args.target;
  let claimed = false;
  setHandler(
    retargetUpdate,
    (change) => {
      target = change.target;
      cmd.target = target;
      return { target };
    },
    {
      validator: (change) => {
        if (claimed) throw new Error(`the migration has already claimed capacity on ${cmd.target}; cancel it and migrate again`);
        if (change.target !== undefined && (typeof change.target !== 'string' || !change.target)) throw new Error('target must be a host name or id');
      },
    },
  );
  cmd.target = target;
  return cmd.run(input.queued, async () => {
    const { commandId, container: name, args } = input.request;
    cmd.begin('load');
    const ctx = await registry.loadContainer(name);
    const state = await registry.expectState({ containerId: ctx.container.id, command: 'migrate', allowed: ['running', 'stopped'] });
    const source = hostOf(ctx, 'migrate');
    cmd.host = source.name;
    if (target) {
      const hinted = await registry.loadHost(target);
      if (hinted.id === source.id) throw new InvalidTransitionError('migrate', name, state, `it is already on ${source.name}`);
    }
    cmd.begin('claim capacity');
    claimed = true; // from here on the target is fixed
    const claim = await registry.claimPlacement({
      commandId,
      containerName: name,
      containerId: ctx.container.id,
      resources: resourcesOf(ctx.container.definition),
      driver: source.definition.driver,
      requires: ctx.container.definition.requires,
      hint: target,
      exclude: [source.id],
      groups: (ctx.container.metadata['vmflow.groups'] as string[] | undefined) ?? undefined,
      ttlSeconds: CLAIM_TTL_SECONDS,
    });
    const dest = claim.host;
    cmd.target = dest.name;
    cmd.tagHosts(source.name, dest.name);
    cmd.did(`claimed capacity on ${dest.name}`, async () => void (await registry.releaseClaim(commandId)));

    const hosts = hostActivities(source);
    const coldWhileRunning = state === 'running' && args.cold === true;
    if (coldWhileRunning) {
      cmd.begin(`stop on ${source.name} for a cold move`);
      await hosts.containerPower({ host: source, name, op: 'stop' });
      cmd.did(`stopped on ${source.name}`, () => hosts.containerPower({ host: source, name, op: 'start' }));
    }
    const live = state === 'running' && !coldWhileRunning;
    cmd.begin(`${live ? 'live' : 'cold'} migrate ${source.name} → ${dest.name}`);
    await hosts.containerMigrate({ source, target: dest, spec: ctx.spec, live });
    cmd.did(`moved to ${dest.name}`, () => hostActivities(dest).containerMigrate({ source: dest, target: source, spec: ctx.spec, live }));
    if (coldWhileRunning) {
      cmd.begin(`start on ${dest.name}`);
      await hostActivities(dest).containerPower({ host: dest, name, op: 'start' });
      cmd.did(`started on ${dest.name}`, () => hostActivities(dest).containerPower({ host: dest, name, op: 'stop' }));
    }
    cmd.begin('commit');
    await registry.commitPlacement({ commandId, containerId: ctx.container.id, state });
    cmd.did(`committed: ${name} is on ${dest.name}`);
    return { containerId: ctx.container.id, state: state as TrackedState, host: dest.name };
  });
}
