// Container lists page by name with a token (keyset paging), on SQLite and on MariaDB: every
// container once and in order, and containers added or removed between pages hide no other.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidInputError } from '../../src/domain/errors';
import type { NodeRecord } from '../../src/domain/types';
import type { SqlRegistry } from '../../src/registry';
import { Containers } from '../../src/service/containers';
import type { ContainerPageQuery } from '../../src/service/containers';
import { describeOnDatabases } from '../support/databases';
import { addContainer, addHost } from './fixtures';

/** Names whose byte order differs from a naive one: digits, '-', '.', '_' and different lengths. */
const NAMES = ['a', 'a-1', 'a.1', 'a0', 'a1', 'a10', 'a2', 'a_1', 'aa', 'b', 'b-b', 'b9', 'b99', 'b990', 'c', 'c-0', 'c.0', 'd', 'e0', 'e00', 'z', 'z-', 'z9', 'zz', 'zzz'];

/** Only page() is used: it reads the registry. */
const containersOf = (r: SqlRegistry) => new Containers(undefined as never, r, undefined as never);

async function walk(containers: Containers, query: ContainerPageQuery, between?: (page: number, items: NodeRecord[]) => Promise<void>): Promise<{ names: string[]; sizes: number[] }> {
  const names: string[] = [];
  const sizes: number[] = [];
  let pageToken: string | undefined;
  for (let page = 0; page < 100; page++) {
    const p = await containers.page({ ...query, ...(pageToken ? { pageToken } : {}) });
    names.push(...p.items.map((c) => c.name));
    sizes.push(p.items.length);
    if (!p.nextPageToken) return { names, sizes };
    await between?.(page, p.items);
    pageToken = p.nextPageToken;
  }
  throw new Error('no last page after 100 pages');
}

describeOnDatabases('container pages', (db) => {
  const fresh = async () => {
    const r = await db().registry();
    const host = await addHost(r, 'hv-1');
    // Shuffled, so that insertion order is not name order; other node types stay out of the list.
    for (const name of [...NAMES].sort(() => Math.random() - 0.5)) await addContainer(r, name, host.id, undefined, {});
    await addHost(r, 'b5');
    return { r, host };
  };

  test('paging by token returns every container once, in byte order of names, and ends without a token', async () => {
    const { r } = await fresh();
    const sorted = [...NAMES].sort();
    for (const limit of [1, 4, 25, 26, 1000]) {
      const { names, sizes } = await walk(containersOf(r), { limit });
      assert.deepEqual(names, sorted, `pages of ${limit}`);
      assert.ok(sizes.slice(0, -1).every((s) => s === limit), `full pages of ${limit} before the last: ${sizes}`);
      assert.ok(sizes[sizes.length - 1]! >= 1, 'no empty last page');
    }
    // Filters page the same way.
    await r.update((await r.getByName('b9')).id, undefined, { state: 'stopped' });
    await r.update((await r.getByName('a.1')).id, undefined, { state: 'stopped' });
    await r.update((await r.getByName('zz')).id, undefined, { state: 'stopped' });
    assert.deepEqual((await walk(containersOf(r), { limit: 1, state: 'stopped' })).names, ['a.1', 'b9', 'zz']);
  });

  test('containers added and removed between pages: survivors once and in order, the new ones after the cursor too', async () => {
    const { r, host } = await fresh();
    const removed = new Set<string>();
    const added: string[] = [];
    const { names } = await walk(containersOf(r), { limit: 4 }, async (page, items) => {
      const last = items[items.length - 1]!.name;
      if (page === 0) {
        // The container the token points after is gone: the next page starts after its name all the same.
        await r.remove(items[items.length - 1]!.id);
        removed.add(last);
        // One not yet listed goes, one before the cursor and one after it come.
        await r.remove((await r.getByName('c')).id);
        removed.add('c');
        await addContainer(r, 'a-0', host.id);
        await addContainer(r, 'b-a', host.id);
        added.push('b-a');
      }
      if (page === 2) {
        await r.remove((await r.getByName('zzz')).id);
        removed.add('zzz');
        await addContainer(r, 'zzzz', host.id);
        added.push('zzzz');
      }
    });
    const firstPage = [...NAMES].sort().slice(0, 4);
    const expected = [...new Set([...firstPage, ...[...NAMES, ...added].filter((n) => !removed.has(n))])].sort();
    assert.deepEqual(names, expected);
    assert.equal(new Set(names).size, names.length, 'no container twice');
    assert.ok(!names.includes('a-0'), 'a container added before the cursor shows on no later page');
  });

  test('a token that is not ours, or a limit out of range, is refused naming the field', async () => {
    const { r } = await fresh();
    const containers = containersOf(r);
    for (const pageToken of ['nope', Buffer.from('{"after":""}').toString('base64url'), Buffer.from('[1]').toString('base64url')])
      await assert.rejects(containers.page({ pageToken }), (e: Error) => e instanceof InvalidInputError && /pageToken is not a page token from this list/.test(e.message));
    for (const limit of [0, 1001, 1.5])
      await assert.rejects(containers.page({ limit }), (e: Error) => e instanceof InvalidInputError && /limit must be an integer from 1 to 1000/.test(e.message));
  });
});
