import { fitsOn } from '../capacity';
import { REASON } from '../reasons';
import type { Filter } from '../types';

/** Free cpus (allowance minus containers and placeholders) cover the request. */
export const cpuFits: Filter = {
  name: 'cpu fits',
  prepare(request) {
    const need = request.resources;
    return (host) => (fitsOn(host, need, 'cpus') ? undefined : REASON.fullOnCpu);
  },
};
