import { fitsOn } from '../capacity';
import { REASON } from '../reasons';
import type { Filter } from '../types';

/** Free disk (allowance minus containers and placeholders) covers the request. */
export const diskFits: Filter = {
  name: 'disk fits',
  prepare(request) {
    const need = request.resources;
    return (host) => (fitsOn(host, need, 'diskGiB') ? undefined : REASON.fullOnDisk);
  },
};
