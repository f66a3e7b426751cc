// All activities the central worker registers, built from their dependencies.
import type { DriverRegistry } from '../src/drivers/driver';
import type { Registry } from '../src/registry/types';
import type { Provisioner } from '../src/provisioner';
import { createHostActivities } from './hosts';
import { createHypervisorActivities } from './hypervisors';
import { createRegistryActivities } from './registry';

export interface ActivityDeps {
  readonly registry: Registry;
  readonly provisioner: Provisioner;
  readonly drivers: DriverRegistry;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createRegistryActivities(deps.registry, deps.provisioner),
    ...createHypervisorActivities(deps.registry, deps.provisioner),
    ...createHostActivities(deps.drivers),
  };
}

export type Activities = ReturnType<typeof createActivities>;
