import { REASON } from '../reasons';
import type { Filter } from '../types';

/** Free cpus (allowance minus containers and placeholders) cover the request. */
export const cpuFits: Filter = {
  name: 'cpu fits',
  prepare(request) {
    const need = request.resources.cpus;
    // The same arithmetic as capacity.fitsOn, spelled out: it runs for every host.
    return (host) => (need <= host.allowance.cpus - host.used.cpus ? undefined : REASON.fullOnCpu);
  },
};
