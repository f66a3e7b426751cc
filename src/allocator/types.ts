// The allocator's contract: pure placement over a snapshot of hosts.
import type { Resources } from '../domain/types';
import type { HostSnapshot } from '../registry/types';

export type { HostSnapshot };

export interface PlacementRequest {
  /** The container's name, for explanations. */
  readonly name: string;
  readonly resources: Resources;
  /** Only hosts of this driver. */
  readonly driver?: string;
  /** Labels a host must carry. */
  readonly requires?: Readonly<Record<string, string>>;
  /** A host id or name the caller prefers; when given, only that host is considered. */
  readonly hint?: string;
  /** Host ids never to use (the current host of a migrating container). */
  readonly exclude?: readonly string[];
  /** No host already holding one of these groups may be chosen. */
  readonly antiAffinity?: readonly string[];
  /** Prefer (weigher) hosts holding these groups. */
  readonly affinity?: readonly string[];
  /**
   * Groups the container counts toward once placed (what `commit` adds to its host, what a claim
   * records). Defaults to the union of `antiAffinity` and `affinity`.
   */
  readonly groups?: readonly string[];
}

export type WeigherName = 'binpack' | 'spread' | 'leastLoaded' | 'affinity';

export interface AllocatorOptions {
  /** Seed of the candidate shuffle: same seed + same snapshot = same decision. */
  readonly seed?: number;
  /** Multiplier per weigher; defaults to { binpack: 1, affinity: 1 }. */
  readonly weighers?: Partial<Record<WeigherName, number>>;
  /** Score at most this many feasible hosts (after the shuffle); all when undefined. */
  readonly maxCandidates?: number;
  /** How many top candidates to report. Default 3. */
  readonly top?: number;
}

export interface ScoredCandidate {
  readonly hostId: string;
  readonly hostName: string;
  readonly score: number;
}

export interface Placement {
  /** The chosen host, or undefined when none fits. */
  readonly host?: HostSnapshot;
  /** Rejected hosts per named reason (`full on memory`, `down`, `excluded by anti-affinity`, ...). */
  readonly rejections: Readonly<Record<string, number>>;
  /** Best candidates, best first, with their scores. */
  readonly candidates: readonly ScoredCandidate[];
}

/** Why a host is rejected for a request, or undefined when it passes. */
export type HostCheck = (host: HostSnapshot) => string | undefined;

/** One feasibility check of the pipeline, named after what it checks. */
export interface Filter {
  readonly name: string;
  /** The check for one request; undefined when the request does not ask for it (no driver, no labels, ...). */
  prepare(request: PlacementRequest): HostCheck | undefined;
}

/** One ranking criterion; its scores lie in [0, 1], higher is better, and are multiplied by its weight. */
export interface Weigher {
  readonly name: WeigherName;
  prepare(request: PlacementRequest): (host: HostSnapshot) => number;
}

export interface GroupOptions {
  /**
   * Keep the requests apart: each joins and avoids this group, so no two land on one host.
   * `true` makes up a group name for this batch only.
   */
  readonly antiAffinity?: boolean | string;
}

/** The outcome of placing a whole environment: every request placed and committed, or none. */
export type GroupPlacement =
  | {
      readonly ok: true;
      /** One per request, in request order; each has a host. */
      readonly placements: readonly Placement[];
      /** The anti-affinity group the requests joined, when asked for one. */
      readonly group?: string;
    }
  | {
      readonly ok: false;
      /** Index of the first request that did not fit. */
      readonly index: number;
      readonly request: PlacementRequest;
      readonly placement: Placement;
      /** `4 hosts excluded by anti-affinity, 2 down`. */
      readonly explanation: string;
    };
