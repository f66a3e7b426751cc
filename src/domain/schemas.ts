// What may enter the cluster: JSON Schemas (TypeBox) of the provisioning requests per node type.
// Pure data, importable anywhere; the provisioner compiles them with ajv. A schema may carry a
// `problem` annotation: the sentence reported when a value fails its pattern.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
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
const Positive = Type.Number({ exclusiveMinimum: 0 });
const Text = Type.String({ minLength: 1, maxLength: 1024 });
const StringMap = Type.Record(Type.String({ minLength: 1, maxLength: 255 }), Type.String({ maxLength: 255 }));
const Tags = StringMap;

export const ResourcesSchema = Type.Object({ cpus: Positive, memoryMiB: Positive, diskGiB: Positive }, strict);

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

export const ContainerDefinitionInputSchema = Type.Object(
  {
    kind: Type.String({ minLength: 1, maxLength: 64 }),
    cpus: Positive,
    memoryMiB: Positive,
    diskGiB: Positive,
    network: Type.Optional(NetworkInputSchema),
    image: Type.Optional(Text),
    requires: Type.Optional(StringMap),
    group: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  },
  strict,
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

export const ContainerRequestSchema = Type.Object(
  {
    id: Type.Optional(Id),
    name: Name,
    definition: ContainerDefinitionInputSchema,
    tags: Type.Optional(Tags),
    parentId: Type.Optional(Id),
    /** vmflow's own metadata, written with the node (the workflow that creates it, its groups). */
    metadata: Type.Optional(Type.Record(Type.String({ pattern: '^vmflow\\.' }), Type.Unknown())),
  },
  strict,
);

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
export type ContainerRequest = Static<typeof ContainerRequestSchema>;
export type ContainerDefinitionInput = Static<typeof ContainerDefinitionInputSchema>;
export type EnvironmentRequest = Static<typeof EnvironmentRequestSchema>;

/** The node types that enter the cluster through the provisioner (placeholders come from claims). */
export const PROVISIONED_TYPES = ['hypervisor', 'container', 'environment'] as const;
export type ProvisionedType = (typeof PROVISIONED_TYPES)[number];

export const REQUEST_SCHEMAS: Record<ProvisionedType, TSchema> = {
  hypervisor: HypervisorRequestSchema,
  container: ContainerRequestSchema,
  environment: EnvironmentRequestSchema,
};
