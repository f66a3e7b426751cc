// The container kinds: every file in kinds/ exports one, so adding a kind means adding a file.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { ContainerKind } from './types';

export * from './types';

function loadBuiltIn(): ContainerKind[] {
  const dir = path.join(__dirname, 'kinds');
  return readdirSync(dir)
    .filter((f) => /\.(ts|js)$/.test(f) && !f.endsWith('.d.ts'))
    .map((f) => (require(path.join(dir, f)) as { kind: ContainerKind }).kind);
}

export class Kinds {
  private readonly byName = new Map<string, ContainerKind>();
  constructor(extra: readonly ContainerKind[] = []) {
    for (const k of [...loadBuiltIn(), ...extra]) this.byName.set(k.name, k);
  }
  get(name: string): ContainerKind {
    return this.byName.get(name) ?? this.byName.get('generic')!;
  }
  has(name: string): boolean {
    return this.byName.has(name);
  }
  names(): string[] {
    return [...this.byName.keys()].sort();
  }
}

/** Lowest priority first; ties by name, so the order is total and reproducible. */
export function byPriority<T extends { priority: number; name: string }>(members: readonly T[]): T[] {
  return [...members].sort((a, b) => a.priority - b.priority || a.name.localeCompare(b.name));
}
