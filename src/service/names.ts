// Checks every command that names something new makes before it is sent.
import type { CreateArgs } from '../domain/commands';
import { InvalidInputError, KeyConflictError } from '../domain/errors';
import { macForIp, type Provisioner } from '../provisioner';
import { keyOf } from '../domain/types';
import type { Registry } from '../registry/types';

const NAME = /^[a-z0-9][a-z0-9-_.]{0,62}$/;

export function checkName(field: string, name: unknown): asserts name is string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new InvalidInputError([{ field, problem: 'must be 1-63 characters of a-z, 0-9, - _ . starting with a letter or digit' }]);
  }
}

export async function nameIsFree(registry: Registry, name: string): Promise<void> {
  const owner = await registry.findByName(name);
  if (owner) throw new KeyConflictError(keyOf.name(name), owner.id, owner.name);
}

/**
 * Refuses at submission an ip or mac another node owns (with the mac an ip implies when none is
 * given), so the command is never started. Two submissions racing for the same address both pass
 * here; the registry lets only one of them register it.
 */
export async function addressesAreFree(registry: Registry, network: { readonly ip?: string | undefined; readonly mac?: string | undefined } | undefined): Promise<void> {
  const keys: string[] = [];
  if (network?.ip) keys.push(keyOf.ip(network.ip));
  const mac = network?.mac ?? (network?.ip ? macForIp(network.ip) : undefined);
  if (mac) keys.push(keyOf.mac(mac));
  for (const key of keys) {
    const owner = await registry.findByKey(key);
    if (owner) throw new KeyConflictError(key, owner.id, owner.name);
  }
}

/** Refuses a new container's definition with every problem at once; stand-in addresses fill an ip or mac left out, which is allocated later. */
export function checkNewDefinition(provisioner: Provisioner, name: string, definition: CreateArgs['definition'] | undefined, subject: string): void {
  const network = { ip: '10.255.255.254', mac: '02:00:00:00:00:00', ...(definition?.network ?? {}) };
  const problems = provisioner.validate('container', { name, definition: { ...(definition ?? {}), network } });
  if (problems.length) throw new InvalidInputError(problems, subject);
}
