import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explain, noCapacityError, place } from '../../src/allocator';
import { NoCapacityError } from '../../src/domain/errors';
import { host, request, used } from './builders';

const FULL_MEMORY = used(0, 65536, 0);

describe('place', () => {
  it('counts every rejected host under the first filter it fails', () => {
    const hosts = [
      host('down1', { state: 'down', used: FULL_MEMORY }),
      host('down2', { state: 'down' }),
      host('libvirt', { driver: 'libvirt' }),
      host('zone-b', { labels: { zone: 'b' } }),
      host('excluded', { labels: { zone: 'a' }, used: FULL_MEMORY }),
      host('mem1', { labels: { zone: 'a' }, used: FULL_MEMORY }),
      host('mem2', { labels: { zone: 'a' }, used: used(16, 65536, 1000) }),
      host('cpu', { labels: { zone: 'a' }, used: used(15, 0, 1000) }),
      host('disk', { labels: { zone: 'a' }, used: used(0, 0, 990) }),
      host('apart', { labels: { zone: 'a' }, used: used(1, 1, 1), groups: { 'env:1/web': 1 } }),
      host('ok', { labels: { zone: 'a' } }),
    ];
    const r = request('web2', { driver: 'sim', requires: { zone: 'a' }, exclude: ['excluded'], antiAffinity: ['env:1/web'] });
    const p = place(hosts, r);
    assert.equal(p.host?.id, 'ok');
    assert.deepEqual(p.rejections, {
      down: 2,
      'wrong driver': 1,
      'missing label zone=a': 1,
      excluded: 1,
      'full on memory': 2,
      'full on cpu': 1,
      'full on disk': 1,
      'excluded by anti-affinity': 1,
    });
  });

  it('finds no host and says why, most common reason first', () => {
    const hosts = [
      ...Array.from({ length: 12 }, (_, i) => host(`m${i}`, { used: FULL_MEMORY })),
      ...Array.from({ length: 3 }, (_, i) => host(`d${i}`, { state: 'down' })),
      host('web1-host', { used: used(1, 1, 1), groups: { 'env:1/web': 1 } }),
    ];
    const p = place(hosts, request('web2', { antiAffinity: ['env:1/web'] }));
    assert.equal(p.host, undefined);
    assert.deepEqual(p.candidates, []);
    assert.equal(explain(p), '12 hosts full on memory, 3 down, 1 excluded by anti-affinity');
  });

  it('with a hint, considers that host alone and reports why it does not fit', () => {
    const hosts = [host('a'), host('b', { used: FULL_MEMORY }), host('c')];
    const ok = place(hosts, request('web1', { hint: 'name-of-a' }));
    assert.equal(ok.host?.id, 'a');
    assert.deepEqual(ok.rejections, { 'not the hinted host': 2 });
    const full = place(hosts, request('web1', { hint: 'b' }));
    assert.equal(full.host, undefined);
    assert.deepEqual(full.rejections, { 'not the hinted host': 2, 'full on memory': 1 });
  });

  it('bin-packs onto the fullest host that fits by default', () => {
    const hosts = [host('empty'), host('half', { used: used(8, 32768, 0) }), host('most', { used: used(12, 49152, 0) }), host('full', { used: used(15, 65000, 0) })];
    const p = place(hosts, request('c'));
    assert.equal(p.host?.id, 'most');
    assert.deepEqual(p.candidates.map((c) => c.hostId), ['most', 'half', 'empty']);
    assert.ok(p.candidates[0]!.score > p.candidates[1]!.score);
  });

  it('spreads onto the emptiest host with the spread weigher', () => {
    const hosts = [host('half', { used: used(8, 32768, 0) }), host('empty'), host('most', { used: used(12, 49152, 0) })];
    assert.equal(place(hosts, request('c'), { weighers: { spread: 1 } }).host?.id, 'empty');
  });

  it('prefers hosts holding the affinity groups', () => {
    const hosts = [host('fuller', { used: used(12, 49152, 0) }), host('with-db', { used: used(2, 4096, 20), groups: { 'env:1': 1 } })];
    assert.equal(place(hosts, request('web1', { affinity: ['env:1'] })).host?.id, 'with-db');
    assert.equal(place(hosts, request('web1', { affinity: ['env:1'] }), { weighers: { binpack: 1 } }).host?.id, 'fuller');
  });

  it('reports the top N candidates, best first', () => {
    const hosts = Array.from({ length: 6 }, (_, i) => host(`h${i}`, { used: used(i, i * 4096, 0) }));
    const p = place(hosts, request('c'), { top: 5 });
    assert.deepEqual(p.candidates.map((c) => c.hostId), ['h5', 'h4', 'h3', 'h2', 'h1']);
    assert.equal(p.candidates[0]!.hostName, 'name-of-h5');
    assert.equal(place(hosts, request('c'), { top: 0 }).host?.id, 'h5');
  });

  it('with maxCandidates scores only that many feasible hosts, yet counts every rejection', () => {
    const hosts = [...Array.from({ length: 50 }, (_, i) => host(`h${i}`, { used: used(i % 10, 0, 0) })), host('down', { state: 'down' })];
    const p = place(hosts, request('c'), { maxCandidates: 2, top: 10, seed: 3 });
    assert.equal(p.candidates.length, 2);
    assert.deepEqual(p.rejections, { down: 1 });
  });

  it('makes the same decision for the same seed, and breaks ties by the seeded shuffle', () => {
    const hosts = Array.from({ length: 30 }, (_, i) => host(`h${i}`));
    const r = request('c');
    assert.deepEqual(place(hosts, r, { seed: 7 }), place(hosts, r, { seed: 7 }));
    const chosen = new Set(Array.from({ length: 20 }, (_, seed) => place(hosts, r, { seed }).host?.id));
    assert.ok(chosen.size > 5, `equal hosts should be picked by seed, got ${[...chosen].join(' ')}`);
  });

  it('refuses politely on an empty cluster', () => {
    const p = place([], request('c'));
    assert.equal(p.host, undefined);
    assert.equal(explain(p), 'no hosts registered');
  });
});

describe('explain', () => {
  it('puts "host" or "hosts" on the first reason only', () => {
    assert.equal(explain({ rejections: { down: 1 }, candidates: [] }), '1 host down');
    assert.equal(explain({ rejections: { 'full on cpu': 2, 'wrong driver': 2, down: 5 }, candidates: [] }), '5 hosts down, 2 wrong driver, 2 full on cpu');
  });
});

describe('noCapacityError', () => {
  it('carries the rejection counts as its reasons', () => {
    const r = request('web7');
    const err = noCapacityError(r, { rejections: { 'full on memory': 12, down: 3 }, candidates: [] });
    assert.ok(err instanceof NoCapacityError);
    assert.equal(err.code, 'NO_CAPACITY');
    assert.deepEqual(err.reasons, { 'full on memory': 12, down: 3 });
    assert.equal(err.message, 'no capacity for web7: 12 hosts full on memory, 3 hosts down');
  });
});
