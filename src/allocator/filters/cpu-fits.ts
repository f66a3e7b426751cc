import { fits } from '../../domain/capacity';
import { REASON } from '../reasons';
import type { Filter } from '../types';

/** Free cpus (allowance minus containers and placeholders) cover the request. */
export const cpuFits: Filter = {
  name: 'cpu fits',
  prepare(request) {
    const need = request.resources.cpus;
    return (host) => (fits(need, host.allowance.cpus, host.used.cpus) ? undefined : REASON.fullOnCpu);
  },
};
