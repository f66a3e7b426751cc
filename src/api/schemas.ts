// JSON Schemas (TypeBox) of every request and response: Fastify validates requests with them and
// @fastify/swagger builds /openapi.json from the same objects. Request objects refuse unknown
// fields; definitions reuse the provisioner's schemas from src/domain/schemas.ts, their kind
// limited to the container kinds the API is given.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { DefinitionChangeSchema, HypervisorDefinitionSchema, IpSchema, MacSchema, NAME_PATTERN, containerDefinitionInputSchema } from '../domain/schemas';
import { ROLES } from '../auth/roles';
import { MAX_CREATE_MEMBERS } from '../domain/environments';

const strict = { additionalProperties: false } as const;

export const Name = Type.String({ pattern: NAME_PATTERN, description: 'a node name: 1 to 63 characters of a-z, 0-9, -, _ and ., starting with a letter or digit' });
/** A node's name or id (ids are lower-case UUIDs, which the name pattern also covers). */
export const Ref = Type.String({ pattern: NAME_PATTERN, description: 'a name or an id' });
const Tags = Type.Record(Type.String({ minLength: 1, maxLength: 255 }), Type.String({ maxLength: 255 }));
const Iso = Type.String({ description: 'ISO 8601 UTC time' });
const FreeObject = Type.Object({}, { additionalProperties: true });

export const RefParams = Type.Object({ ref: Ref }, strict);
export const EnvironmentMemberParams = Type.Object({ ref: Ref, container: Name }, strict);
export const KeyParams = Type.Object({ key: Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}:[^\\s]{1,255}$', description: 'a unique key: ip:10.0.0.5, mac:02:00:0a:00:00:05, name:web1' }) }, strict);
export const TokenParams = Type.Object({ id: Type.String({ pattern: '^[a-f0-9]{12}$', description: 'a token id' }) }, strict);
export const CommandParams = Type.Object(
  {
    kind: Type.Union([Type.Literal('container'), Type.Literal('environment')]),
    target: Name,
    command: Type.String({ pattern: '^[a-z][a-zA-Z]{0,31}$' }),
    commandId: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }),
  },
  strict,
);

export const Paging = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000_000 })),
};

/** A page token as a list answered it (`nextPageToken`): opaque. */
export const PageToken = Type.String({ minLength: 1, maxLength: 2048, pattern: '^[A-Za-z0-9_=+/-]+$', description: 'the nextPageToken of the previous page' });

export const ContainerListQuery = Type.Object(
  {
    state: Type.Optional(Type.String({ pattern: '^[a-z]{1,32}$' })),
    host: Type.Optional(Ref),
    tag: Type.Optional(Type.String({ pattern: '^[^=\\s]{1,255}(=[^\\s]{0,255})?$', description: 'key or key=value' })),
    limit: Paging.limit,
    pageToken: Type.Optional(PageToken),
  },
  strict,
);
export const PagingQuery = Type.Object({ ...Paging }, strict);

export const CommandListQuery = Type.Object(
  {
    container: Type.Optional(Name),
    environment: Type.Optional(Name),
    hypervisor: Type.Optional(Name),
    command: Type.Optional(Type.String({ pattern: '^[a-z][a-zA-Z.]{0,63}$', description: 'migrate, or environment.start for an environment command' })),
    status: Type.Optional(Type.Union(['Running', 'Completed', 'Failed', 'Cancelled', 'Terminated', 'TimedOut'].map((s) => Type.Literal(s)))),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'commands in a page (default 50)' })),
    pageToken: Type.Optional(PageToken),
  },
  strict,
);

export const MemberRemoveQuery = Type.Object({ destroy: Type.Optional(Type.Boolean()) }, strict);

export const HypervisorCreate = Type.Object({ name: Name, definition: HypervisorDefinitionSchema, tags: Type.Optional(Tags) }, strict);
export const DrainBody = Type.Object(
  {
    reason: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    keep: Type.Optional(Type.Boolean({ description: 'only cordon it: place nothing new there, move nothing away' })),
  },
  strict,
);

export function containerCreate(kinds: readonly string[]) {
  return Type.Object(
    {
      name: Name,
      definition: containerDefinitionInputSchema(kinds),
      tags: Type.Optional(Tags),
      hint: Type.Optional(Ref),
      start: Type.Optional(Type.Boolean({ description: 'start it once built; default true' })),
    },
    strict,
  );
}
export const Empty = Type.Object({}, strict);
export const ShutdownBody = Type.Object({ timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 3_600_000 })) }, strict);
export const UpdateBody = Type.Object({ definition: DefinitionChangeSchema }, strict);
export const CloneBody = Type.Object({ name: Name, ip: Type.Optional(IpSchema), mac: Type.Optional(MacSchema), hint: Type.Optional(Ref), tags: Type.Optional(Tags) }, strict);
export const MigrateBody = Type.Object({ target: Type.Optional(Ref), cold: Type.Optional(Type.Boolean()) }, strict);
export const ReorderBody = Type.Object(
  { position: Type.Integer({ minimum: 0, maximum: 100000, description: '0 = next to run, after the command that is running' }) },
  { ...strict, description: "the command's new place in its queue" },
);
export const ModifyBody = Type.Object({ target: Type.Optional(Ref) }, { ...strict, description: 'a new target for a migration that has not claimed capacity yet; absent lets the allocator choose' });

function newMember(kinds: readonly string[]) {
  return Type.Object({ name: Name, definition: containerDefinitionInputSchema(kinds), hint: Type.Optional(Ref) }, strict);
}
export function environmentCreate(kinds: readonly string[]) {
  return Type.Object(
    {
      name: Name,
      description: Type.Optional(Type.String({ maxLength: 4096 })),
      antiAffinity: Type.Optional(Type.Boolean()),
      members: Type.Optional(
        Type.Array(newMember(kinds), { maxItems: MAX_CREATE_MEMBERS, description: 'new containers created with it, placed all or nothing: every one gets room or none is claimed' }),
      ),
    },
    strict,
  );
}
export function memberAdd(kinds: readonly string[]) {
  return Type.Object(
    {
      container: Type.Optional(Name),
      create: Type.Optional(newMember(kinds)),
    },
    { ...strict, description: 'exactly one of container (an existing one) or create (a new one)' },
  );
}
export const DownBody = Type.Object({ cause: Type.String({ minLength: 1, maxLength: 1024 }) }, strict);

export const TokenCreate = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9 _.@-]{0,63}$' }),
    role: Type.Union(ROLES.map((r) => Type.Literal(r))),
  },
  strict,
);

// Responses.

const ErrorCode = Type.String({ description: 'INVALID_INPUT, NOT_FOUND, KEY_CONFLICT, VERSION_CONFLICT, INVALID_TRANSITION, NO_CAPACITY, DENIED, UNAUTHENTICATED, FORBIDDEN, ...' });

/** RFC 9457 problem details, with vmflow's code and details beside them (and in `error`, as before). */
export const ErrorResponse = Type.Object(
  {
    type: Type.String({ description: 'the kind of problem, a URI: urn:vmflow:problem:<code in lower case with hyphens>' }),
    title: Type.String({ description: 'the kind of problem in words; the same for every problem of a type' }),
    status: Type.Integer({ description: 'the HTTP status' }),
    detail: Type.String({ description: 'this occurrence, in a sentence a person can act on' }),
    instance: Type.String({ description: 'the request path it happened on' }),
    code: ErrorCode,
    details: FreeObject,
    error: Type.Object({ code: ErrorCode, message: Type.String(), details: FreeObject }),
  },
  { description: 'every error: application/problem+json (RFC 9457)' },
);

export const Link = Type.Object({ id: Type.String(), name: Type.Optional(Type.String()), href: Type.String() });

const nodeFields = {
  id: Type.String(),
  name: Type.String(),
  href: Type.String(),
  state: Type.String(),
  definition: FreeObject,
  metadata: FreeObject,
  tags: Type.Record(Type.String(), Type.String()),
  keys: Type.Array(Type.String()),
  version: Type.Integer(),
  createdAt: Iso,
  updatedAt: Iso,
};

export const HypervisorResource = Type.Object({
  ...nodeFields,
  containers: Type.Object({ href: Type.String() }),
  usage: Type.Optional(Type.Object({ cpus: Type.Number(), memoryMiB: Type.Number(), diskGiB: Type.Number() })),
});
export const ContainerResource = Type.Object({
  ...nodeFields,
  parent: Type.Union([Link, Type.Null()]),
  environment: Type.Union([Link, Type.Null()]),
  commands: Type.Object({ href: Type.String() }),
});
export const MemberResource = Type.Object({
  id: Type.String(),
  name: Type.String(),
  href: Type.String(),
  kind: Type.String(),
  priority: Type.Number(),
  state: Type.String(),
  ip: Type.String(),
  host: Type.Union([Link, Type.Null()]),
});
export const EnvironmentResource = Type.Object({
  ...nodeFields,
  state: Type.Union(['empty', 'running', 'stopped', 'suspended', 'mixed', 'degraded'].map((s) => Type.Literal(s)), {
    description: 'what its members are doing: running, stopped or suspended when every member is; degraded when one is lost, missing, unknown or illegal; mixed otherwise; empty without members',
  }),
  members: Type.Object({ href: Type.String(), items: Type.Optional(Type.Array(MemberResource)) }),
});
export const NodeLink = Type.Object({ id: Type.String(), name: Type.String(), type: Type.String(), href: Type.String() });

export function listOf(item: TSchema) {
  return Type.Object({ items: Type.Array(item), total: Type.Optional(Type.Integer()), limit: Type.Optional(Type.Integer()), offset: Type.Optional(Type.Integer()) });
}

/** A page of a list paged by token: `nextPageToken` fetches the next page, absent on the last. */
export function pageOf(item: TSchema) {
  return Type.Object({ items: Type.Array(item), limit: Type.Integer(), nextPageToken: Type.Optional(Type.String()) });
}

export const Accepted = Type.Object(
  {
    commandId: Type.String(),
    workflowId: Type.String(),
    command: Type.String(),
    target: Type.String(),
    href: Type.String({ description: '/v1/commands/<workflowId>' }),
    webUi: Type.String({ description: 'the workflow in the Temporal Web UI' }),
  },
  { description: 'the command was accepted; follow it at href' },
);

export const CommandResource = Type.Object({
  workflowId: Type.String(),
  commandId: Type.String(),
  command: Type.String(),
  kind: Type.String(),
  target: Type.Object({ name: Type.String(), href: Type.String() }),
  status: Type.String({ description: 'RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT' }),
  startedAt: Iso,
  closedAt: Type.Optional(Iso),
  summary: Type.Optional(Type.String()),
  requestedBy: Type.Optional(Type.String()),
  hosts: Type.Optional(Type.Array(Type.Object({ name: Type.String(), href: Type.String() }))),
  progress: Type.Optional(FreeObject),
  result: Type.Optional(FreeObject),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
  href: Type.String(),
  webUi: Type.String(),
});

export const AgentResource = Type.Object({
  id: Type.String(),
  name: Type.String(),
  href: Type.String(),
  hypervisor: Link,
  state: Type.String(),
  driver: Type.String(),
  taskQueue: Type.String({ description: 'where its driver activities run: an agent queue, or the central workers' }),
  lastContact: Type.Union([Iso, Type.Null()]),
  load: Type.Union([Type.Number(), Type.Null()]),
  free: Type.Union([FreeObject, Type.Null()]),
  failuresInRow: Type.Integer(),
  stateCause: Type.Union([Type.String(), Type.Null()]),
  capacity: FreeObject,
  used: Type.Object({ cpus: Type.Number(), memoryMiB: Type.Number(), diskGiB: Type.Number() }),
  containers: Type.Integer(),
});

const CommandRef = Type.Object({ workflowId: Type.String(), type: Type.String(), href: Type.String() }, { additionalProperties: true });
export const AgentDetail = Type.Object({
  ...AgentResource.properties,
  lastError: Type.Union([Type.String(), Type.Null()]),
  commandsInFlight: Type.Array(CommandRef),
  recentFailures: Type.Array(CommandRef),
  recentEvents: Type.Array(FreeObject),
});

export const TokenResource = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Type.String(),
  createdAt: Iso,
  createdBy: Type.String(),
  revokedAt: Type.Union([Iso, Type.Null()]),
  href: Type.String(),
});
export const TokenCreated = Type.Object({ token: TokenResource, secret: Type.String({ description: 'shown once; store it now' }) });

export type Body<S extends TSchema> = Static<S>;
