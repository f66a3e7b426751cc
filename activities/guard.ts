// Activities report vmflow's permanent errors as non-retryable ApplicationFailures that keep
// their type and fields; anything else stays a plain error and Temporal retries it.
import { toFailure, VmflowError } from '../src/domain/errors';

export function guard<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await fn(...args);
    } catch (err) {
      if (err instanceof VmflowError) throw toFailure(err);
      throw err;
    }
  };
}

/** Applies guard to every function of an activity object. */
export function guardAll<T extends Record<string, (...args: any[]) => Promise<any>>>(activities: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) out[name] = guard(fn);
  return out as T;
}
