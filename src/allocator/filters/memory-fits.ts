import { fitsOn } from '../capacity';
import { REASON } from '../reasons';
import type { Filter } from '../types';

/** Free memory (allowance minus containers and placeholders) covers the request. */
export const memoryFits: Filter = {
  name: 'memory fits',
  prepare(request) {
    const need = request.resources;
    return (host) => (fitsOn(host, need, 'memoryMiB') ? undefined : REASON.fullOnMemory);
  },
};
