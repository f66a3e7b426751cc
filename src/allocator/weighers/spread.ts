import { dominantShareAfter } from '../capacity';
import type { Weigher } from '../types';

/** Prefers the emptiest host: the lowest dominant share after placement. */
export const spread: Weigher = {
  name: 'spread',
  prepare(request) {
    const need = request.resources;
    return (host) => 1 - Math.min(1, dominantShareAfter(host, need));
  },
};
