import type { Weigher } from '../types';

/** Prefers hosts holding the request's affinity groups: the share of those groups the host holds. */
export const affinity: Weigher = {
  name: 'affinity',
  prepare(request) {
    const groups = request.affinity ?? [];
    if (groups.length === 0) return () => 0;
    return (host) => {
      let held = 0;
      for (const g of groups) if ((host.groups[g] ?? 0) > 0) held++;
      return held / groups.length;
    };
  },
};
