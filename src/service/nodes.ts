// Any node, by name, id or unique key.
import { NotFoundError } from '../domain/errors';
import type { NodeRecord } from '../domain/types';
import type { NodeQuery, Registry } from '../registry/types';

export class Nodes {
  constructor(private readonly registry: Registry) {}
  /** By name, id or any unique key (`ip:10.0.0.5`). */
  async get(ref: string): Promise<NodeRecord> {
    const node = ref.includes(':') ? await this.registry.findByKey(ref) : ((await this.registry.findByName(ref)) ?? (await this.registry.find(ref)));
    if (!node) throw new NotFoundError('node', ref);
    return node;
  }
  list(query?: NodeQuery): Promise<NodeRecord[]> {
    return this.registry.list(query);
  }
  children(id: string): Promise<NodeRecord[]> {
    return this.registry.children(id);
  }
  /** Who owns a unique key. */
  async owner(key: string): Promise<NodeRecord> {
    const node = await this.registry.findByKey(key);
    if (!node) throw new NotFoundError('key', key);
    return node;
  }
}
