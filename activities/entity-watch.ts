// What the monitor and the collector ask of Temporal about containers and commands: whether a
// command still runs, whether a container's entity is busy, and telling the entity what was seen.
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { VersionConflictError } from '../src/domain/errors';
import { entityStatusQuery, observedSignal } from '../src/domain/messages';
import { workflowIds } from '../src/domain/names';

export function watchEntities(temporal: Client) {
  async function isRunning(workflowId: unknown): Promise<boolean> {
    if (typeof workflowId !== 'string') return false;
    try {
      return (await temporal.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  }

  /** True when the container's entity has commands queued or running: its state is theirs to set. */
  async function busy(container: string): Promise<boolean> {
    try {
      const status = await temporal.workflow.getHandle(workflowIds.containerEntity(container)).query(entityStatusQuery);
      return status.queue.length > 0;
    } catch {
      return false;
    }
  }

  /** Tells the container's entity what was seen, so it validates new commands against it. */
  async function tellEntity(container: string, state: string, cause: string): Promise<void> {
    try {
      await temporal.workflow.getHandle(workflowIds.containerEntity(container)).signal(observedSignal, { state, cause });
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }

  return { isRunning, busy, tellEntity };
}

export type EntityWatch = ReturnType<typeof watchEntities>;

/** Writes guarded by the version the poll read: a command that changed the container meanwhile wins. */
export async function guarded(write: () => Promise<unknown>): Promise<boolean> {
  try {
    await write();
    return true;
  } catch (err) {
    if (err instanceof VersionConflictError) return false;
    throw err;
  }
}
