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

/** Addresses of the pool already owned, when the registry can list keys; undefined otherwise. */
async function ownedAddresses(registry: Registry, pool: AddressPool): Promise<Set<string> | undefined> {
  if (!registry.listKeys) return undefined;
  const owned = new Set<string>();
  for (const key of await registry.listKeys('ip:')) {
    const ip = key.slice('ip:'.length);
    if (isIpv4(ip)) {
      const n = ipToNumber(ip);
      if (n > pool.network && n < pool.broadcast) owned.add(ip);
    }
  }
  return owned;
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
  const owned = await ownedAddresses(registry, block);
  for (const ip of hostAddresses(block)) {
    if (owned ? owned.has(ip) : await registry.findByKey(keyOf.ip(ip))) continue;
    const mac = options.mac ?? macForIp(ip);
    try {
      return await reserve({ ip, mac });
    } catch (err) {
      const lost = err instanceof KeyConflictError && (err.key === keyOf.ip(ip) || (options.mac === undefined && err.key === keyOf.mac(mac)));
      if (!lost) throw err;
      owned?.add(ip);
    }
  }
  throw new InvalidInputError([{ field: 'network.ip', problem: `cannot be allocated: no free address left in ${block.cidr}` }], 'network');
}
