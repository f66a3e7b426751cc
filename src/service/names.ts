// Checks every command that names something new makes before it is sent.
import { InvalidInputError, KeyConflictError } from '../domain/errors';
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
