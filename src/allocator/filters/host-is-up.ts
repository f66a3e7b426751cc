import { notUp } from '../reasons';
import type { Filter } from '../types';

/** Only hosts in state `up` take new containers. */
export const hostIsUp: Filter = {
  name: 'host is up',
  prepare: () => (host) => (host.state === 'up' ? undefined : notUp(host.state)),
};
