import type { ContainerKind } from '../types';

/** A container with no relationships: every event is allowed. */
export const kind: ContainerKind = {
  name: 'generic',
  priority: 50,
  ha: 'restart',
  defaults: { cpus: 1, memoryMiB: 512, diskGiB: 10 },
  handlers: {},
};
