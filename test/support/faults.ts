// Fault injection into the registry the worker's activities use: a method fails (permanently)
// or stalls on its next calls. The real registry does the work otherwise.
import { VmflowError } from '../../src/domain/errors';
import type { Registry } from '../../src/registry/types';

/** A permanent failure injected by a test. */
export class InjectedFault extends VmflowError {
  override readonly name = 'InjectedFault';
  constructor(readonly method: string) {
    super(`injected fault in registry.${method}`);
  }
}

type Rule = { kind: 'fail'; times: number } | { kind: 'stall'; ms: number; times: number };

export class RegistryFaults {
  private readonly rules = new Map<string, Rule>();
  private readonly counted = new Map<string, number>();

  /** Calls of a registry method made through the wrapped registry so far. */
  calls(method: keyof Registry): number {
    return this.counted.get(method) ?? 0;
  }

  failNext(method: keyof Registry, times = 1): void {
    this.rules.set(method, { kind: 'fail', times });
  }

  stallNext(method: keyof Registry, ms: number, times = 1): void {
    this.rules.set(method, { kind: 'stall', ms, times });
  }

  clear(): void {
    this.rules.clear();
  }

  wrap(registry: Registry): Registry {
    return new Proxy(registry, {
      get: (target, prop, receiver) => {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          this.counted.set(prop as string, (this.counted.get(prop as string) ?? 0) + 1);
          const rule = this.rules.get(prop as string);
          if (rule) {
            if (--rule.times <= 0) this.rules.delete(prop as string);
            if (rule.kind === 'fail') throw new InjectedFault(prop as string);
            await new Promise((r) => setTimeout(r, rule.ms));
          }
          return value.apply(target, args);
        };
      },
    });
  }
}
