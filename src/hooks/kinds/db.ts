import type { ContainerKind } from '../types';

/** A database: starts first, stops last. */
export const kind: ContainerKind = {
  name: 'db',
  priority: 10,
  ha: 'restart',
  defaults: { cpus: 2, memoryMiB: 4096, diskGiB: 100 },
  handlers: {},
};
