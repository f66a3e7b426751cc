// The allocator: picks the best hypervisor for a container. Pure over a snapshot; the registry
// makes the claim and re-checks it.
export { seededRandom } from '../domain/seeded-random';
export { Allocator, type IndexedAllocatorOptions, type PlaceOptions } from './allocator';
export { placeAndClaim, DEFAULT_MAX_ATTEMPTS, type ClaimedPlacement, type PlaceAndClaimOptions, type SkippedHost } from './claim';
export { explain, noCapacityError, rejectionsByCount } from './explain';
export { FILTERS, STATIC_FILTERS } from './filters';
export { FirstFitAllocator } from './first-fit';
export { DEFAULT_TOP, place } from './place';
export { Placer } from './placer';
export { REASON, missingLabel } from './reasons';
export { shuffledOrder } from './shuffle';
export { DEFAULT_WEIGHTS, WEIGHERS } from './weighers';
export { groupsOf, withClaim } from './working-copy';
export type * from './types';
