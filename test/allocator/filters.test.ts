import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  antiAffinity,
  cpuFits,
  diskFits,
  driverMatches,
  FILTERS,
  hintedHost,
  hostIsUp,
  labelsMatch,
  memoryFits,
  notExcluded,
} from '../../src/allocator/filters';
import type { Filter, HostSnapshot, PlacementRequest } from '../../src/allocator';
import { host, request, used } from './builders';

/** The filter's verdict on one host: its reason, or undefined when it passes or does not apply. */
function verdict(filter: Filter, h: HostSnapshot, r: PlacementRequest): string | undefined {
  return filter.prepare(r)?.(h);
}

describe('filters', () => {
  it('run from cheap to costly, the hint first and anti-affinity last', () => {
    assert.deepEqual(
      FILTERS.map((f) => f.name),
      ['hinted host', 'host is up', 'driver matches', 'labels match', 'not excluded', 'memory fits', 'cpu fits', 'disk fits', 'anti-affinity'],
    );
  });

  describe('hinted host', () => {
    it('passes the host named by id or by name and rejects the others', () => {
      const r = request('web1', { hint: 'hv-2' });
      assert.equal(verdict(hintedHost, host('hv-2'), r), undefined);
      assert.equal(verdict(hintedHost, host('x', { name: 'hv-2' }), r), undefined);
      assert.equal(verdict(hintedHost, host('hv-3'), r), 'not the hinted host');
    });
    it('does not apply without a hint', () => {
      assert.equal(hintedHost.prepare(request('web1')), undefined);
    });
  });

  describe('host is up', () => {
    it('passes up hosts, calls down hosts down and draining hosts draining', () => {
      const r = request('web1');
      assert.equal(verdict(hostIsUp, host('a'), r), undefined);
      assert.equal(verdict(hostIsUp, host('a', { state: 'down' }), r), 'down');
      assert.equal(verdict(hostIsUp, host('a', { state: 'draining' }), r), 'draining');
      assert.equal(verdict(hostIsUp, host('a', { state: 'unknown' }), r), 'down');
    });
  });

  describe('driver matches', () => {
    it('rejects hosts of another driver', () => {
      const r = request('web1', { driver: 'libvirt' });
      assert.equal(verdict(driverMatches, host('a', { driver: 'libvirt' }), r), undefined);
      assert.equal(verdict(driverMatches, host('a', { driver: 'sim' }), r), 'wrong driver');
    });
    it('does not apply when the request names no driver', () => {
      assert.equal(driverMatches.prepare(request('web1')), undefined);
    });
  });

  describe('labels match', () => {
    it('names the first required label the host lacks or carries with another value', () => {
      const r = request('web1', { requires: { zone: 'a', disk: 'ssd' } });
      assert.equal(verdict(labelsMatch, host('h', { labels: { zone: 'a', disk: 'ssd', rack: '3' } }), r), undefined);
      assert.equal(verdict(labelsMatch, host('h', { labels: { disk: 'ssd' } }), r), 'missing label zone=a');
      assert.equal(verdict(labelsMatch, host('h', { labels: { zone: 'b', disk: 'ssd' } }), r), 'missing label zone=a');
      assert.equal(verdict(labelsMatch, host('h', { labels: { zone: 'a' } }), r), 'missing label disk=ssd');
    });
    it('does not apply without required labels', () => {
      assert.equal(labelsMatch.prepare(request('web1', { requires: {} })), undefined);
    });
  });

  describe('not excluded', () => {
    it('rejects the hosts the request excludes by id', () => {
      const r = request('web1', { exclude: ['hv-1'] });
      assert.equal(verdict(notExcluded, host('hv-1'), r), 'excluded');
      assert.equal(verdict(notExcluded, host('hv-2', { name: 'hv-1' }), r), undefined);
    });
  });

  describe('memory fits', () => {
    it('counts placeholders already in used and allows filling the allowance exactly', () => {
      const r = request('web1', { resources: { cpus: 1, memoryMiB: 4096, diskGiB: 0 } });
      const allowance = { cpus: 16, memoryMiB: 8192, diskGiB: 100 };
      assert.equal(verdict(memoryFits, host('a', { allowance, used: used(0, 4096, 0) }), r), undefined);
      assert.equal(verdict(memoryFits, host('a', { allowance, used: used(0, 4097, 0) }), r), 'full on memory');
    });
    it('uses the allowance, which already includes the overcommit ratio', () => {
      const r = request('web1', { resources: { cpus: 1, memoryMiB: 1000, diskGiB: 0 } });
      const overcommitted = host('a', { allowance: { cpus: 16, memoryMiB: 1500, diskGiB: 10 }, used: used(0, 500, 0) });
      assert.equal(verdict(memoryFits, overcommitted, r), undefined);
    });
  });

  describe('cpu fits', () => {
    it('rejects a host whose free cpus are short', () => {
      const r = request('web1', { resources: { cpus: 4, memoryMiB: 1, diskGiB: 0 } });
      assert.equal(verdict(cpuFits, host('a', { used: used(12, 0, 0) }), r), undefined);
      assert.equal(verdict(cpuFits, host('a', { used: used(13, 0, 0) }), r), 'full on cpu');
    });
  });

  describe('disk fits', () => {
    it('rejects a host whose free disk is short', () => {
      const r = request('web1', { resources: { cpus: 1, memoryMiB: 1, diskGiB: 100 } });
      assert.equal(verdict(diskFits, host('a', { used: used(0, 0, 900) }), r), undefined);
      assert.equal(verdict(diskFits, host('a', { used: used(0, 0, 901) }), r), 'full on disk');
    });
    it('rejects even a request for none of it on an over-claimed host', () => {
      const r = request('web1', { resources: { cpus: 1, memoryMiB: 1, diskGiB: 0 } });
      assert.equal(verdict(diskFits, host('a', { used: used(0, 0, 1001) }), r), 'full on disk');
    });
  });

  describe('anti-affinity', () => {
    it('rejects a host already holding one of the groups', () => {
      const r = request('web3', { antiAffinity: ['env:7/web', 'env:8/web'] });
      assert.equal(verdict(antiAffinity, host('a', { groups: { 'env:8/web': 1 } }), r), 'excluded by anti-affinity');
      assert.equal(verdict(antiAffinity, host('a', { groups: { 'env:7/db': 2, 'env:8/web': 0 } }), r), undefined);
    });
    it('does not apply without anti-affinity groups', () => {
      assert.equal(antiAffinity.prepare(request('web1', { antiAffinity: [] })), undefined);
    });
  });
});
