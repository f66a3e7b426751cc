import { REASON } from '../reasons';
import type { Filter } from '../types';

/** Hosts the request excludes by id (a migrating container's current host). */
export const notExcluded: Filter = {
  name: 'not excluded',
  prepare(request) {
    if (!request.exclude?.length) return undefined;
    const excluded = new Set(request.exclude);
    return (host) => (excluded.has(host.id) ? REASON.excluded : undefined);
  },
};
