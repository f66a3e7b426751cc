// The workflows of a next version, for the rolling-upgrade test: every workflow as today, except
// that `stopContainer` checks its host answers before stopping. The new step is behind
// `patched()`, as every change to workflow code must be: a stop that began on the old version
// replays without it and completes as it began.
import { patched } from '@temporalio/workflow';
import type { CommandResult } from '../../../src/domain/commands';
import { CommandRun, type CommandInput, hostActivities, registry } from '../../../workflows/command-runtime';

export * from '../../../workflows';

export const CHECK_STEP = 'check that the host answers';

export async function stopContainer(input: CommandInput<'stop'>): Promise<CommandResult> {
  const cmd = new CommandRun(input.request);
  return cmd.run(input.queued, async () => {
    const { commandId, container: name, command } = input.request;
    const ctx = await cmd.step('load', () => registry.loadContainer(name));
    cmd.containerId = ctx.container.id;
    await registry.expectState({ containerId: ctx.container.id, command, allowed: ['running', 'suspended'] });
    const host = ctx.host!;
    cmd.host = host.name;
    cmd.tagHosts(host.name);
    if (patched('stop-checks-host')) await cmd.step(CHECK_STEP, () => hostActivities(host).hostStatus({ host }));
    await cmd.step(`stop on ${host.name}`, () => hostActivities(host).containerPower({ host, name, op: 'stop', uuid: ctx.container.id }));
    await cmd.commit('record the new state', () => registry.setContainerState({ containerId: ctx.container.id, state: 'stopped', commandId }));
    return { commandId, command, container: name, containerId: ctx.container.id, state: 'stopped', host: host.name };
  });
}
