import { dominantShareAfter, isEmpty } from '../capacity';
import type { Weigher } from '../types';

/**
 * Prefers the fullest host that fits, by its dominant resource after placement. A host already in
 * use always outranks an empty one (empty hosts score in [0, 0.5], used ones in [0.5, 1]): opening
 * a host is the very cost bin-packing tries to avoid.
 */
export const binpack: Weigher = {
  name: 'binpack',
  prepare(request) {
    const need = request.resources;
    return (host) => {
      const share = Math.min(1, dominantShareAfter(host, need)) / 2;
      return isEmpty(host) ? share : 0.5 + share;
    };
  },
};
