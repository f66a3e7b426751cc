// The registry's contract. The registry keeps its database consistent and nothing else.
import type { JsonObject, NodeRecord, NodeType, Resources } from '../domain/types';

export interface NewNode {
  /** Caller-chosen UUID makes the add idempotent: adding the same id again returns the stored node. */
  readonly id?: string;
  readonly type: NodeType;
  readonly name: string;
  readonly definition: object;
  readonly state: string;
  readonly metadata?: JsonObject;
  readonly tags?: Record<string, string>;
  readonly parentId?: string | null;
  /** Extra unique keys; `name:<name>` is added by the registry and may not be passed. */
  readonly keys?: readonly string[];
}

export interface NodeQuery {
  readonly type?: NodeType;
  /** `null` lists nodes without a parent. */
  readonly parentId?: string | null;
  /** Children of any of these nodes (a batch of hosts read in one query). */
  readonly parentIds?: readonly string[];
  readonly state?: string;
  /** Only these nodes (those that exist). */
  readonly ids?: readonly string[];
  /** Nodes carrying this tag (with this value, when given). */
  readonly tag?: { readonly key: string; readonly value?: string };
  /**
   * Keyset paging: only nodes named after this (lists are ordered by name, which is unique), so
   * a page costs the same however deep it is, and nodes added or removed meanwhile shift nothing.
   */
  readonly after?: string;
  readonly limit?: number;
  /** Skips this many; prefer `after`, which does not read the skipped rows. */
  readonly offset?: number;
}

/** A run of hypervisors by id: those after `after` (from the first when null) up to `last`, inclusive. */
export interface HostRange {
  readonly after: string | null;
  readonly last: string;
}

/** A node on a host, as the monitor compares it with the host's report. */
export interface PlacedNode {
  readonly id: string;
  readonly type: NodeType;
  readonly name: string;
  readonly state: string;
  readonly parentId: string;
  readonly version: number;
  /** Placeholders: the container they hold capacity for. */
  readonly containerName?: string;
}

export interface NodePatch {
  readonly definition?: object;
  readonly state?: string;
  /** Merged into the stored metadata; a key set to null is deleted. */
  readonly metadata?: JsonObject;
  /** Replaces the tags. */
  readonly tags?: Record<string, string>;
}

export interface ClaimRequest {
  readonly hostId: string;
  readonly commandId: string;
  readonly containerName: string;
  readonly containerId?: string;
  readonly resources: Resources;
  readonly ttlSeconds: number;
  /** Anti-affinity/affinity group names the claim counts toward (`env:<id>`, `group:<name>`). */
  readonly groups?: readonly string[];
  /** Metadata of the placeholder (the workflow that holds it). */
  readonly metadata?: JsonObject;
}

/** One host as the allocator sees it. */
export interface HostSnapshot {
  readonly id: string;
  readonly name: string;
  readonly state: string;
  readonly driver: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Capacity times overcommit. */
  readonly allowance: Resources;
  /** Containers plus live placeholders. */
  readonly used: Resources;
  /** Load reported by the monitor, 0 when unknown. */
  readonly load: number;
  /** Count of containers and claims per group name (`env:<id>`, `group:<name>`). */
  readonly groups: Readonly<Record<string, number>>;
}

export interface NodeEvent {
  readonly id: number;
  readonly nodeId: string;
  readonly at: string;
  readonly what: string;
  readonly why: string;
  readonly by: string;
  readonly commandId: string | null;
  readonly data: JsonObject;
}

export type NewNodeEvent = Omit<NodeEvent, 'id' | 'at'> & { readonly at?: string };

/** How the monitor records a host sample. */
export interface HostSampleOptions {
  /** The sample's time; now when unset. */
  readonly at?: Date;
  /** No sample closer than this to the host's last one. Default 60. */
  readonly spacingSeconds?: number;
  /** Samples older than this (before `at`) are removed. Default a day. */
  readonly keepSeconds?: number;
}

/** Which samples to read: one host's (`hostId`) or the cluster's, in buckets of `stepSeconds`. */
export interface SampleQuery {
  readonly hostId?: string;
  readonly from: Date;
  readonly to: Date;
  readonly stepSeconds: number;
}

/** One time bucket of samples: the hosts sampled in it and their sums. */
export interface SamplePoint {
  /** Start of the bucket. */
  readonly at: string;
  /** Hosts sampled in the bucket, and how many of them were up. */
  readonly hosts: number;
  readonly up: number;
  /** Capacity times overcommit. */
  readonly allowance: Resources;
  /** Claimed by containers. */
  readonly containers: Resources;
  /** Held by placeholders of commands in flight. */
  readonly placeholders: Resources;
}

export interface Registry {
  add(node: NewNode): Promise<NodeRecord>;
  get(id: string): Promise<NodeRecord>;
  find(id: string): Promise<NodeRecord | undefined>;
  getByName(name: string): Promise<NodeRecord>;
  findByName(name: string): Promise<NodeRecord | undefined>;
  getByKey(key: string): Promise<NodeRecord>;
  findByKey(key: string): Promise<NodeRecord | undefined>;
  list(query?: NodeQuery): Promise<NodeRecord[]>;
  count(query?: NodeQuery): Promise<number>;
  children(parentId: string, type?: NodeType): Promise<NodeRecord[]>;
  /** What is on these hosts, without keys, tags or documents. Optional: callers fall back to list. */
  placedOn?(hostIds: readonly string[]): Promise<PlacedNode[]>;
  /** The nodes with these names (those that exist), in one query. Optional: callers fall back to findByName. */
  findManyByName?(names: readonly string[]): Promise<NodeRecord[]>;
  /** The hypervisors' ids in id order, agent-polled ones marked. Optional: callers fall back to list. */
  hypervisorIds?(): Promise<Array<{ id: string; agent: boolean }>>;
  /** The hypervisors with ids in (`after`, `last`], in one query. Optional: callers fall back to list. */
  hypervisorsInRange?(range: HostRange): Promise<NodeRecord[]>;
  /**
   * Every unique key starting with `prefix`, sorted (every `ip:` key, to allocate addresses).
   * Optional so that fakes need not implement it; address allocation falls back to lookups by key.
   */
  listKeys?(prefix: string): Promise<string[]>;
  /** `expectedVersion` undefined skips the version check (metadata merges by the monitor). */
  update(id: string, expectedVersion: number | undefined, patch: NodePatch): Promise<NodeRecord>;
  /**
   * Merges metadata into many nodes in one transaction; nodes that are gone are skipped. Returns
   * the nodes written. Optional so that fakes need not implement it: callers fall back to update.
   */
  mergeMetadataMany?(merges: ReadonlyArray<{ readonly id: string; readonly metadata: JsonObject }>): Promise<number>;
  rename(id: string, expectedVersion: number | undefined, newName: string): Promise<NodeRecord>;
  move(id: string, expectedVersion: number | undefined, parentId: string | null): Promise<NodeRecord>;
  addKeys(id: string, keys: readonly string[]): Promise<NodeRecord>;
  removeKeys(id: string, keys: readonly string[]): Promise<NodeRecord>;
  remove(id: string, options?: { cascade?: boolean }): Promise<void>;

  /**
   * Claims capacity on a host: under a row lock on the host, re-checks containers plus live
   * placeholders against its allowance and adds a placeholder child holding `claim:<commandId>`.
   * Idempotent by command id. Throws NoCapacityError naming the short resource.
   */
  claim(request: ClaimRequest): Promise<NodeRecord>;
  /**
   * Several claims in one transaction, all or nothing: each re-checked with the batch's earlier
   * claims on its host; one that does not fit refuses them all (NoCapacityError naming its host).
   * Optional so that fakes need not implement it.
   */
  claimAll?(requests: readonly ClaimRequest[]): Promise<NodeRecord[]>;
  /** Pushes a claim's expiry forward; false when the claim is gone. */
  extendClaim(commandId: string, ttlSeconds: number): Promise<boolean>;
  /** Removes the placeholder of a command; false when there was none. */
  release(commandId: string): Promise<boolean>;
  /**
   * In one transaction: makes the container a child of the claim's host, applies `patch` (its new
   * state) and removes the claim.
   * Idempotent: a second call after success is a no-op.
   */
  commitClaim(commandId: string, containerId: string, patch?: Pick<NodePatch, 'state' | 'metadata'>): Promise<NodeRecord>;
  /**
   * Changes a container's definition; when it has a host, re-checks that host's capacity under
   * its row lock first.
   */
  updateDefinitionWithinCapacity(id: string, expectedVersion: number | undefined, definition: object): Promise<NodeRecord>;
  /** Containers plus live placeholders on a host. */
  usage(hostId: string): Promise<Resources>;
  /** Every hypervisor with its usage, for the allocator; only those of `hostIds` when given (unknown ids are left out). */
  hostSnapshot(hostIds?: readonly string[]): Promise<HostSnapshot[]>;
  /** Placeholders whose expiry is before `now`. */
  expiredPlaceholders(now?: Date): Promise<NodeRecord[]>;

  recordEvent(event: NewNodeEvent): Promise<void>;
  events(nodeId: string, limit?: number): Promise<NodeEvent[]>;

  /** Records what a host holds now, unless its last sample is too recent; false when skipped. */
  recordHostSample(hostId: string, options?: HostSampleOptions): Promise<boolean>;
  /** Samples of one host, or summed over the cluster, in time buckets, oldest first. */
  samples(query: SampleQuery): Promise<SamplePoint[]>;

  close(): Promise<void>;
}
