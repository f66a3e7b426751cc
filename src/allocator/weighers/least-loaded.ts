import type { Weigher } from '../types';

/** Prefers the host with the lowest load the monitor reported (0 when unknown). */
export const leastLoaded: Weigher = {
  name: 'leastLoaded',
  prepare: () => (host) => 1 / (1 + Math.max(0, host.load)),
};
