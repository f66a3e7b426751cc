import { fits } from '../../domain/capacity';
import { REASON } from '../reasons';
import type { Filter } from '../types';

/** Free memory (allowance minus containers and placeholders) covers the request. */
export const memoryFits: Filter = {
  name: 'memory fits',
  prepare(request) {
    const need = request.resources.memoryMiB;
    return (host) => (fits(need, host.allowance.memoryMiB, host.used.memoryMiB) ? undefined : REASON.fullOnMemory);
  },
};
