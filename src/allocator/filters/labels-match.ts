import { missingLabel } from '../reasons';
import type { Filter } from '../types';

/** The host carries every label the request requires, with the same value; names the first one missing. */
export const labelsMatch: Filter = {
  name: 'labels match',
  prepare(request) {
    const required = Object.entries(request.requires ?? {});
    if (required.length === 0) return undefined;
    const reasons = required.map(([k, v]) => missingLabel(k, v));
    return (host) => {
      for (let i = 0; i < required.length; i++) {
        const [k, v] = required[i]!;
        if (host.labels[k] !== v) return reasons[i];
      }
      return undefined;
    };
  },
};
