// Reading a container's config files: one driver read on the host's own queue (its agent's when
// it has one), so the files are read where the driver can reach them. Short timeouts: someone is
// waiting for the answer.
import { proxyActivities } from '@temporalio/workflow';
import type { ContainerFileListing, HostActivities } from '../activities/hosts';
import type { HostRef } from '../src/drivers/driver';
import { TASK_QUEUE } from '../src/domain/names';
import { commandFailure } from './command-runtime';

export interface ReadContainerFilesInput {
  readonly host: HostRef;
  readonly name: string;
  /** The file to read; only the list when absent. */
  readonly path?: string;
}

/** The container's config files and, when `path` is given, that file's content. */
export async function readContainerFiles(input: ReadContainerFilesInput): Promise<ContainerFileListing> {
  const { containerFiles } = proxyActivities<Pick<HostActivities, 'containerFiles'>>({
    taskQueue: input.host.definition.agentQueue ?? TASK_QUEUE,
    scheduleToStartTimeout: '10 seconds',
    startToCloseTimeout: '20 seconds',
    retry: { initialInterval: '500 milliseconds', maximumInterval: '2 seconds', maximumAttempts: 3 },
  });
  try {
    return await containerFiles({ host: input.host, name: input.name, ...(input.path !== undefined ? { path: input.path } : {}) });
  } catch (err) {
    throw commandFailure(err);
  }
}
