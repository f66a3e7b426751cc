// The allocator: picks the best hypervisor for a container. Commands place through a Placer (an
// indexed working copy per process); the registry makes the claim and re-checks it.
export { seededRandom } from '../domain/seeded-random';
export { Allocator, type IndexedAllocatorOptions, type PlaceOptions } from './allocator';
export { explain, noCapacityError, rejectionsByCount } from './explain';
export { FILTERS, STATIC_FILTERS } from './filters';
export { DEFAULT_TOP, place } from './place';
export { DEFAULT_MAX_ATTEMPTS, Placer, seedOf, type ClaimedPlacement, type PlacementRegistry, type PlacerOptions, type SkippedHost } from './placer';
export { REASON, missingLabel } from './reasons';
export { shuffledOrder } from './shuffle';
export { DEFAULT_WEIGHTS, WEIGHERS } from './weighers';
export { groupsOf, withClaim } from './working-copy';
export type * from './types';
