// All activities the central worker registers, built from their dependencies.
import type { Client } from '@temporalio/client';
import type { DriverRegistry } from '../src/drivers/driver';
import type { Kinds } from '../src/hooks';
import type { Provisioner } from '../src/provisioner';
import type { Registry } from '../src/registry/types';
import type { FenceAgents } from '../src/drivers/fence-agents';
import { createEnvironmentActivities } from './environments';
import { createMaintenanceActivities } from './maintenance';
import { createHostActivities } from './hosts';
import { createHypervisorActivities } from './hypervisors';
import { createMonitorActivities } from './monitor';
import { createCollectorActivities } from './collector';
import { createRegistryActivities } from './registry';

export interface ActivityDeps {
  readonly registry: Registry;
  readonly provisioner: Provisioner;
  readonly drivers: DriverRegistry;
  readonly kinds: Kinds;
  /** For activities that run commands on behalf of others (environments). */
  readonly temporal: Client;
  /** How long a placeholder lives without its command; the workflows' default when unset. */
  readonly claimTtlSeconds?: number;
  /** Runs hosts' fence agents (default: from /usr/sbin). */
  readonly fencing?: FenceAgents;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createRegistryActivities(deps.registry, deps.provisioner, { claimTtlSeconds: deps.claimTtlSeconds }),
    ...createMonitorActivities(deps),
    ...createCollectorActivities(deps),
    ...createHypervisorActivities(deps.registry, deps.provisioner),
    ...createHostActivities(deps.drivers),
    ...createEnvironmentActivities(deps),
    ...createMaintenanceActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
