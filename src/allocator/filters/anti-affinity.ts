import { REASON } from '../reasons';
import type { Filter } from '../types';

/** No host already holding a container or claim of one of the request's anti-affinity groups. */
export const antiAffinity: Filter = {
  name: 'anti-affinity',
  prepare(request) {
    const groups = request.antiAffinity;
    if (!groups?.length) return undefined;
    return (host) => {
      for (const g of groups) if ((host.groups[g] ?? 0) > 0) return REASON.antiAffinity;
      return undefined;
    };
  },
};
