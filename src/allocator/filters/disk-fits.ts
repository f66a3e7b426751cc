import { fits } from '../../domain/capacity';
import { REASON } from '../reasons';
import type { Filter } from '../types';

/** Free disk (allowance minus containers and placeholders) covers the request. */
export const diskFits: Filter = {
  name: 'disk fits',
  prepare(request) {
    const need = request.resources.diskGiB;
    return (host) => (fits(need, host.allowance.diskGiB, host.used.diskGiB) ? undefined : REASON.fullOnDisk);
  },
};
