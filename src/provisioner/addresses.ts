// Address allocation from an IPv4 pool: the lowest free host address, reserved through the
// registry's unique `ip:` keys, so concurrent allocators in any process never share one.
import { InvalidInputError, KeyConflictError } from '../domain/errors';
import { keyOf } from '../domain/types';
import type { Registry } from '../registry/types';

export interface AddressPool {
  readonly cidr: string;
  /** First and last address of the block, as 32-bit unsigned integers. */
  readonly network: number;
  readonly broadcast: number;
}

export interface NetworkAddress {
  readonly ip: string;
  readonly mac: string;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIpv4(ip: string): boolean {
  return IPV4.test(ip);
}

export function ipToNumber(ip: string): number {
  return ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

export function numberToIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/** Parses `10.0.0.0/16`. Blocks smaller than /30 have no room for hosts and are refused. */
export function parsePool(cidr: string): AddressPool {
  const [ip, bits, ...rest] = cidr.split('/');
  const prefix = Number(bits);
  if (rest.length || !ip || !isIpv4(ip) || !/^\d+$/.test(bits ?? '') || prefix < 0 || prefix > 30) {
    throw new InvalidInputError([{ field: 'ipPool', problem: `must be an IPv4 CIDR block of /30 or larger, like 10.0.0.0/16, not ${cidr}` }], 'provisioner options');
  }
  const size = 2 ** (32 - prefix);
  const network = Math.floor(ipToNumber(ip) / size) * size;
  return { cidr, network, broadcast: network + size - 1 };
}

/** The locally administered MAC derived from an address: 10.0.0.5 → 02:00:0a:00:00:05. */
export function macForIp(ip: string): string {
  return ['02', '00', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

/** Host addresses of the pool in ascending order: neither the network nor the broadcast address. */
export function* hostAddresses(pool: AddressPool): Generator<string> {
  for (let n = pool.network + 1; n < pool.broadcast; n++) yield numberToIp(n);
}

/** How long a process trusts what it read of the pool's owned addresses before reading them again. */
export const OWNED_ADDRESSES_MAX_AGE_MS = 10_000;

/**
 * The pool's owned addresses as this process knows them: read in full at most every
 * OWNED_ADDRESSES_MAX_AGE_MS and kept current by its own allocations, so an allocation costs no
 * read of every `ip:` key however large the fleet. The registry's unique keys stay the judge: an
 * address someone else took meanwhile is a lost race (the next one is tried), and an address freed
 * meanwhile is offered again after the next read.
 */
interface OwnedAddresses {
  readonly owned: Set<number>;
  readonly readAt: number;
  /** Every address of the pool below this one is owned. */
  from: number;
}

const ownedByRegistry = new WeakMap<object, Map<string, Promise<OwnedAddresses>>>();

async function readOwned(registry: Registry, pool: AddressPool): Promise<OwnedAddresses> {
  const readAt = Date.now();
  const owned = new Set<number>();
  for (const key of await registry.listKeys!('ip:')) {
    const ip = key.slice('ip:'.length);
    if (isIpv4(ip)) {
      const n = ipToNumber(ip);
      if (n > pool.network && n < pool.broadcast) owned.add(n);
    }
  }
  return { owned, readAt, from: pool.network + 1 };
}

/** Addresses of the pool already owned, when the registry can list keys; undefined otherwise. */
async function ownedAddresses(registry: Registry, pool: AddressPool): Promise<OwnedAddresses | undefined> {
  if (!registry.listKeys) return undefined;
  const pools = ownedByRegistry.get(registry) ?? ownedByRegistry.set(registry, new Map()).get(registry)!;
  let known = pools.get(pool.cidr);
  if (known && Date.now() - (await known).readAt > OWNED_ADDRESSES_MAX_AGE_MS) known = undefined;
  if (!known) {
    known = readOwned(registry, pool);
    pools.set(pool.cidr, known);
    known.catch(() => pools.get(pool.cidr) === known && pools.delete(pool.cidr));
  }
  return known;
}

/**
 * Reserves the lowest free address of the pool: calls `reserve` with a candidate (and its derived
 * MAC unless `mac` is given) and moves on to the next candidate when `reserve` loses the address to
 * a concurrent allocator (KeyConflictError on its `ip:` key, or on the derived `mac:` key).
 * Any other error is the caller's. Clone and create share this.
 */
export async function allocateAddress<T>(
  registry: Registry,
  pool: AddressPool | string,
  reserve: (address: NetworkAddress) => Promise<T>,
  options: { readonly mac?: string } = {},
): Promise<T> {
  const block = typeof pool === 'string' ? parsePool(pool) : pool;
  const known = await ownedAddresses(registry, block);
  if (known) while (known.owned.has(known.from)) known.from++;
  for (let n = known ? known.from : block.network + 1; n < block.broadcast; n++) {
    if (known?.owned.has(n)) continue;
    const ip = numberToIp(n);
    if (!known && (await registry.findByKey(keyOf.ip(ip)))) continue;
    const mac = options.mac ?? macForIp(ip);
    // Held while reserved, so that this process's concurrent allocations try other addresses.
    known?.owned.add(n);
    try {
      return await reserve({ ip, mac });
    } catch (err) {
      const lost = err instanceof KeyConflictError && (err.key === keyOf.ip(ip) || (options.mac === undefined && err.key === keyOf.mac(mac)));
      if (!lost) {
        if (known) {
          known.owned.delete(n);
          known.from = Math.min(known.from, n);
        }
        throw err;
      }
    }
  }
  throw new InvalidInputError([{ field: 'network.ip', problem: `cannot be allocated: no free address left in ${block.cidr}` }], 'network');
}
