import { REASON } from '../reasons';
import type { Filter } from '../types';

/**
 * With a hint (a host id or name) only that host may be chosen. It runs first: the other hosts are
 * all "not the hinted host", and the hinted one is counted under the reason it really fails.
 */
export const hintedHost: Filter = {
  name: 'hinted host',
  prepare(request) {
    const hint = request.hint;
    if (hint === undefined) return undefined;
    return (host) => (host.id === hint || host.name === hint ? undefined : REASON.notHinted);
  },
};
