// The TypeScript client, for programs that talk to Temporal and the registry directly: one entry
// point, `connect(options)`, which opens both and hands back the service layer. Reads come from
// the registry; commands go to Temporal and return handles.
import { Client, type Connection } from '@temporalio/client';
import { InvalidInputError } from '../domain/errors';
import { openRegistry } from '../registry';
import { connectTemporal, registryOptions, type RegistrySettings, type TemporalSettings } from '../temporal/connection';
import type { Registry } from '../registry/types';
import { VmflowService } from '../service';
import type { Kinds } from '../hooks';

export { CommandHandle, Containers, Environments, Hypervisors, Info, Nodes, VmflowService } from '../service';
export type { CommandFilter, CommandInfo, CommandStats, CommandSummary, ControllerInfo, EnvironmentMember, HostInfo } from '../service';

/** Where Temporal and the registry are; TLS and API-key settings as the configuration names them (a `Config` may be spread in). */
export interface ConnectOptions extends Partial<TemporalSettings>, Partial<Omit<RegistrySettings, 'registryUrl'>> {
  readonly temporalAddress?: string;
  readonly namespace?: string;
  /** Registry database URL; or pass an open `registry`. */
  readonly registryUrl?: string;
  readonly registry?: Registry;
  readonly connection?: Connection;
  /** Recorded on every command as who asked for it. */
  readonly identity?: string;
  /** The container kinds definitions may name: those the workers run. Default: the built-in kinds. */
  readonly kinds?: Kinds;
}

/** The service layer with the connections it opened, which `close()` closes. */
export class Vmflow extends VmflowService {
  constructor(
    temporal: Client,
    registry: Registry,
    private readonly owned: { connection?: Connection; registry?: Registry },
    identity?: string,
    kinds?: Kinds,
  ) {
    super(temporal, registry, identity, kinds);
  }

  async close(): Promise<void> {
    await this.owned.connection?.close();
    await this.owned.registry?.close();
  }
}

export async function connect(options: ConnectOptions = {}): Promise<Vmflow> {
  const connection = options.connection ?? (await connectTemporal({ ...options, temporalAddress: options.temporalAddress ?? '127.0.0.1:7233' }));
  let registry = options.registry;
  let ownedRegistry: Registry | undefined;
  if (!registry) {
    if (!options.registryUrl) throw new InvalidInputError([{ field: 'registryUrl', problem: 'is required when no registry is passed' }], 'connect options');
    registry = ownedRegistry = await openRegistry(registryOptions({ ...options, registryUrl: options.registryUrl }));
  }
  const temporal = new Client({ connection, namespace: options.namespace ?? 'default', identity: options.identity });
  return new Vmflow(temporal, registry, { connection: options.connection ? undefined : connection, registry: ownedRegistry }, options.identity, options.kinds);
}
