// What may enter the cluster: JSON Schemas (TypeBox) of the provisioning requests per node type.
// Pure data, importable anywhere; the provisioner and the API compile them with ajv. A schema may
// carry a `problem` annotation: the sentence reported when a value fails it (schema-problems.ts).
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { MAX_CPUS, MAX_DISK_GIB, MAX_MEMORY_MIB } from './limits';
import { DRIVER_NAMES } from './types';

/** Node names: lower-case letters, digits, `-`, `_`, `.`; 1 to 63 characters, not starting with a symbol. */
export const NAME_PATTERN = '^[a-z0-9][a-z0-9_.-]{0,62}$';
export const IPV4_PATTERN = '^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$';
export const MAC_PATTERN = '^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$';
const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

const strict = { additionalProperties: false } as const;

const Name = Type.String({
  pattern: NAME_PATTERN,
  problem: 'must be 1 to 63 characters of a-z, 0-9, -, _ and ., starting with a letter or digit',
});
const Id = Type.String({ pattern: UUID_PATTERN, problem: 'must be a UUID' });
/** A whole number of units from 1 to `max`. */
function size(max: number, unit: string) {
  return Type.Integer({ minimum: 1, maximum: max, description: `${unit}: a whole number from 1 to ${max}`, problem: `must be an integer from 1 to ${max}` });
}
export const CpusSchema = size(MAX_CPUS, 'cpus');
export const MemoryMiBSchema = size(MAX_MEMORY_MIB, 'memory in MiB');
export const DiskGiBSchema = size(MAX_DISK_GIB, 'disk in GiB');
const Text = Type.String({ minLength: 1, maxLength: 1024 });
const StringMap = Type.Record(Type.String({ minLength: 1, maxLength: 255 }), Type.String({ maxLength: 255 }));
const Tags = StringMap;

export const ResourcesSchema = Type.Object({ cpus: CpusSchema, memoryMiB: MemoryMiBSchema, diskGiB: DiskGiBSchema }, strict);

/** Each ratio defaults to 1 when left out. */
export const OvercommitSchema = Type.Object(
  {
    cpu: Type.Optional(Type.Number({ minimum: 1 })),
    memory: Type.Optional(Type.Number({ minimum: 1 })),
    disk: Type.Optional(Type.Number({ minimum: 1 })),
  },
  strict,
);

export const HypervisorDefinitionSchema = Type.Object(
  {
    driver: Type.Unsafe<(typeof DRIVER_NAMES)[number]>({ type: 'string', enum: [...DRIVER_NAMES] }),
    address: Text,
    capacity: ResourcesSchema,
    overcommit: Type.Optional(OvercommitSchema),
    agentQueue: Type.Optional(Text),
    labels: Type.Optional(StringMap),
    options: Type.Optional(StringMap),
    fence: Type.Optional(
      Type.Object(
        {
          agent: Type.String({ pattern: '^fence_[A-Za-z0-9_-]+$', problem: 'must name a fence agent installed on the worker, like fence_ipmilan' }),
          args: Type.Optional(Type.Array(Type.String({ maxLength: 1000 }), { maxItems: 64 })),
          timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 600 })),
        },
        { ...strict, description: 'the fence agent that powers the host off out of band before a failover (run from VMFLOW_FENCE_AGENT_DIR)' },
      ),
    ),
  },
  strict,
);

export const IpSchema = Type.String({ pattern: IPV4_PATTERN, problem: 'must be an IPv4 address like 10.0.0.5' });
export const MacSchema = Type.String({ pattern: MAC_PATTERN, problem: 'must be a MAC address like 02:00:0a:00:00:05' });

/** ip and mac may be left out: the provisioner allocates them. */
export const NetworkInputSchema = Type.Object(
  {
    ip: Type.Optional(IpSchema),
    mac: Type.Optional(MacSchema),
    bridge: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  strict,
);

/**
 * A container's kind: one of `kinds` (the names of the container kinds, src/hooks) when given;
 * any short name when the caller does not know them.
 */
export function kindSchema(kinds?: readonly string[]) {
  return kinds
    ? Type.Unsafe<string>({ type: 'string', enum: [...kinds], description: `the container's kind: ${kinds.join(', ')}` })
    : Type.String({ minLength: 1, maxLength: 64 });
}

/** A container's high-availability policy and its failover order. */
const HaFields = {
  ha: Type.Optional(Type.Union([Type.Literal('restart'), Type.Literal('none')], { description: 'restart: rebuilt on another host when its host goes down; none: left lost' })),
  haPriority: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000, description: 'failover order, lowest first (default: its kind priority)' })),
  haMaxRestarts: Type.Optional(Type.Integer({ minimum: 0, maximum: 100, description: 'most failovers within haRestartWindowMinutes; past it the container is left lost (default 3)' })),
  haRestartWindowMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 10080, description: 'the window haMaxRestarts counts in, in minutes (default 60)' })),
};

export function containerDefinitionInputSchema(kinds?: readonly string[]) {
  return Type.Object(
    {
      kind: kindSchema(kinds),
      cpus: CpusSchema,
      memoryMiB: MemoryMiBSchema,
      diskGiB: DiskGiBSchema,
      network: Type.Optional(NetworkInputSchema),
      image: Type.Optional(Text),
      requires: Type.Optional(StringMap),
      group: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
      ...HaFields,
    },
    strict,
  );
}
export const ContainerDefinitionInputSchema = containerDefinitionInputSchema();

/** What an update may change: any of the resources, the image, the host labels it requires, its HA policy. */
export const DefinitionChangeSchema = Type.Object(
  {
    cpus: Type.Optional(CpusSchema),
    memoryMiB: Type.Optional(MemoryMiBSchema),
    diskGiB: Type.Optional(DiskGiBSchema),
    image: Type.Optional(Text),
    requires: Type.Optional(StringMap),
    ...HaFields,
  },
  { ...strict, minProperties: 1 },
);

export const EnvironmentDefinitionSchema = Type.Object(
  {
    description: Type.Optional(Type.String({ maxLength: 4096 })),
    antiAffinity: Type.Optional(Type.Boolean()),
  },
  strict,
);

export const HypervisorRequestSchema = Type.Object(
  {
    id: Type.Optional(Id),
    name: Name,
    definition: HypervisorDefinitionSchema,
    tags: Type.Optional(Tags),
    state: Type.Optional(Type.Unsafe<'up' | 'down' | 'draining'>({ type: 'string', enum: ['up', 'down', 'draining'] })),
  },
  strict,
);

export function containerRequestSchema(kinds?: readonly string[]) {
  return Type.Object(
    {
      id: Type.Optional(Id),
      name: Name,
      definition: containerDefinitionInputSchema(kinds),
      tags: Type.Optional(Tags),
      parentId: Type.Optional(Id),
      /** vmflow's own metadata, written with the node (the workflow that creates it, its groups). */
      metadata: Type.Optional(Type.Record(Type.String({ pattern: '^vmflow\\.' }), Type.Unknown())),
    },
    strict,
  );
}
export const ContainerRequestSchema = containerRequestSchema();

export const EnvironmentRequestSchema = Type.Object(
  {
    id: Type.Optional(Id),
    name: Name,
    definition: Type.Optional(EnvironmentDefinitionSchema),
    tags: Type.Optional(Tags),
  },
  strict,
);

export type HypervisorRequest = Static<typeof HypervisorRequestSchema>;
/** A hypervisor definition as requested: overcommit ratios left out default to 1. */
export type HypervisorDefinitionInput = Static<typeof HypervisorDefinitionSchema>;
export type ContainerRequest = Static<typeof ContainerRequestSchema>;
export type ContainerDefinitionInput = Static<typeof ContainerDefinitionInputSchema>;
export type EnvironmentRequest = Static<typeof EnvironmentRequestSchema>;

/** The node types that enter the cluster through the provisioner (placeholders come from claims). */
export const PROVISIONED_TYPES = ['hypervisor', 'container', 'environment'] as const;
export type ProvisionedType = (typeof PROVISIONED_TYPES)[number];

/** The request schema of each provisioned type; containers limited to `kinds` when given. */
export function requestSchemas(kinds?: readonly string[]): Record<ProvisionedType, TSchema> {
  return {
    hypervisor: HypervisorRequestSchema,
    container: kinds ? containerRequestSchema(kinds) : ContainerRequestSchema,
    environment: EnvironmentRequestSchema,
  };
}
export const REQUEST_SCHEMAS = requestSchemas();
