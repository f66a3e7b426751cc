// Maintenance of a host that is up: drain moves everything away (the host is cordoned first, so
// nothing new lands there), one container at a time, each as a `migrate` command through its
// container's entity — live when it runs, cold when it is stopped or a live move failed.
// Cancelling the drain cancels the move in flight (undone by its own saga) and stops there.
import { isCancellation, proxyActivities, setHandler, uuid4 } from '@temporalio/workflow';
import { containerCommands as commands, messageOf } from './command-runtime';
import type { MaintenanceActivities } from '../activities/maintenance';
import { type DrainProgress, MESSAGE_DESCRIPTIONS, drainProgressQuery } from '../src/domain/messages';

const acts = proxyActivities<Pick<MaintenanceActivities, 'drainPlan'>>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', backoffCoefficient: 2 },
});


export async function drainHost(input: { host: string; reason: string }): Promise<DrainProgress> {
  const progress = { host: input.host, moved: [] as Array<{ name: string; host?: string; cold: boolean }>, failed: [] as Array<{ name: string; error: string }>, pending: [] as string[], current: undefined as string | undefined };
  setHandler(drainProgressQuery, () => ({ ...progress, moved: [...progress.moved], failed: [...progress.failed], pending: [...progress.pending] }), {
    description: MESSAGE_DESCRIPTIONS.drainProgress,
  });
  const plan = await acts.drainPlan({ host: input.host, reason: input.reason });
  progress.pending = plan.containers.map((c) => c.name);
  for (const c of plan.containers) {
    progress.current = c.name;
    const requestedBy = `drain of ${input.host}`;
    try {
      let result;
      try {
        result = await commands.runContainerCommand({ commandId: uuid4(), container: c.name, command: 'migrate', args: {}, requestedBy });
      } catch (err) {
        if (isCancellation(err) || c.state !== 'running') throw err;
        // Live is impossible here (the move failed and was undone): stop, move, start.
        result = await commands.runContainerCommand({ commandId: uuid4(), container: c.name, command: 'migrate', args: { cold: true }, requestedBy });
        progress.moved.push({ name: c.name, host: result?.host, cold: true });
        progress.pending.shift();
        continue;
      }
      progress.moved.push({ name: c.name, host: result?.host, cold: c.state !== 'running' });
    } catch (err) {
      if (isCancellation(err)) {
        progress.current = undefined;
        throw err;
      }
      progress.failed.push({ name: c.name, error: messageOf(err) });
    }
    progress.pending.shift();
  }
  progress.current = undefined;
  for (const name of plan.skipped) progress.failed.push({ name, error: 'suspended: resume or stop it, then drain again' });
  return { ...progress, moved: [...progress.moved], failed: [...progress.failed], pending: [] };
}
