import type { ContainerKind } from '../types';

/**
 * A web server. The second web server of an environment needs a balancer in front of the two:
 * it asks for one before it joins.
 */
export const kind: ContainerKind = {
  name: 'web',
  priority: 20,
  ha: 'restart',
  defaults: { cpus: 1, memoryMiB: 1024, diskGiB: 10 },
  handlers: {
    beforeItIsAdded: ({ environment, self }) => {
      const webs = environment.members.filter((m) => m.kind === 'web' && m.id !== self.id);
      const balancer = environment.members.some((m) => m.kind === 'balancer');
      return webs.length >= 1 && !balancer ? { allow: true, run: [{ run: 'add', kind: 'balancer' }] } : { allow: true };
    },
  },
};
