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
