import { REASON } from '../reasons';
import type { Filter } from '../types';

/** Free memory (allowance minus containers and placeholders) covers the request. */
export const memoryFits: Filter = {
  name: 'memory fits',
  prepare(request) {
    const need = request.resources.memoryMiB;
    // The same arithmetic as capacity.fitsOn, spelled out: it runs for every host.
    return (host) => (need <= host.allowance.memoryMiB - host.used.memoryMiB ? undefined : REASON.fullOnMemory);
  },
};
