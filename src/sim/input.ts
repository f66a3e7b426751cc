// Checks of what callers send: operation bodies, VM specs and delays.
import { badRequest } from './errors';
import { ANY_OPERATION, SIM_OPERATIONS, type SimVmSpec } from './protocol';

export type Body = Record<string, unknown>;

export function positive(value: unknown, field: string, allowZero = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw badRequest(`${field} must be a ${allowZero ? 'non-negative' : 'positive'} number, not ${JSON.stringify(value)}`);
  }
  return value;
}

export function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw badRequest(`${field} must be a string`);
  return value;
}

/** The `spec` of a body; when `name` is given, the spec must be for that VM. */
export function specOf(body: unknown, name?: string): SimVmSpec {
  const spec = (body as { spec?: unknown } | undefined)?.spec as Record<string, unknown> | undefined;
  if (!spec || typeof spec !== 'object') throw badRequest('spec is required');
  if (typeof spec.name !== 'string' || !spec.name) throw badRequest('spec.name is required');
  if (name !== undefined && spec.name !== name) throw badRequest(`spec.name ${spec.name} does not match ${name} in the path`);
  return {
    id: optionalString(spec.id, 'spec.id'),
    name: spec.name,
    cpus: positive(spec.cpus, 'spec.cpus'),
    memoryMiB: positive(spec.memoryMiB, 'spec.memoryMiB'),
    diskGiB: positive(spec.diskGiB, 'spec.diskGiB', true),
    mac: optionalString(spec.mac, 'spec.mac'),
    ip: optionalString(spec.ip, 'spec.ip'),
    image: optionalString(spec.image, 'spec.image'),
  };
}

/** The config file path of an applyConfig or readConfig body. */
export function configPath(body: Body): string {
  if (typeof body.path !== 'string' || !body.path) throw badRequest('path is required');
  return body.path;
}

/** Delays in ms per operation (`*` = any); null removes one. */
export function checkDelays(delays: unknown): Record<string, number | null> {
  if (!delays || typeof delays !== 'object') throw badRequest('delays must be an object of operation: ms');
  const known = new Set<string>([...SIM_OPERATIONS, ANY_OPERATION]);
  for (const [op, ms] of Object.entries(delays)) {
    if (!known.has(op)) throw badRequest(`unknown operation ${op}; known: ${[...known].join(', ')}`);
    if (ms !== null) positive(ms, `delay of ${op}`, true);
  }
  return delays as Record<string, number | null>;
}

export function mergeDelays(into: Record<string, number>, delays: Record<string, number | null>): void {
  for (const [op, ms] of Object.entries(delays)) {
    if (ms === null) delete into[op];
    else into[op] = ms;
  }
}
