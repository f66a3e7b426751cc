// Clone and migration between real libvirt daemons: two hosts with their own storage folders, and a
// third that shares the first one's folder (shared storage).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DriverError } from '../../src/domain/errors';
import type { Progress } from '../../src/drivers/driver';
import { LibvirtDriver } from '../../src/drivers/libvirt';
import { skipMessage, startLibvirt, startLibvirtPair, virsh, type LibvirtTestHost } from '../support/libvirt';
import { dominfo, domstate, dumpxml, hasPattern, imageInfo, tinySpec, writePattern } from './checks';

const driver = new LibvirtDriver({ pollMs: 100 });
let a: LibvirtTestHost | undefined;
let b: LibvirtTestHost | undefined;
let shared: LibvirtTestHost | undefined; // same storage folder as `a`

before(async () => {
  const pair = await startLibvirtPair();
  if (!pair) {
    console.log(skipMessage());
    return;
  }
  [a, b] = pair;
  shared = await startLibvirt({ name: 'lv-shared', storagePath: a.storagePath });
});
after(async () => {
  await Promise.all([shared?.stop(), b?.stop(), a?.stop()]);
});

const diskOf = (h: LibvirtTestHost, name: string) => path.join(h.storagePath, `${name}.qcow2`);

describe('libvirt driver: clone', { concurrency: false }, () => {
  const source = tinySpec('src-1');

  before(async () => {
    if (!a) return;
    await driver.define(a.ref, source);
    await driver.provision(a.ref, source);
    await writePattern(diskOf(a, 'src-1'), 0x5a);
  });

  it('clones a stopped domain on the same host: own disk, MAC and uuid, defined stopped', async (t) => {
    if (!a) return t.skip(skipMessage());
    const copy = tinySpec('copy-1');
    await driver.clone(a.ref, 'src-1', a.ref, copy);
    const info = await dominfo(a.uri, 'copy-1');
    assert.equal(info.get('State'), 'shut off');
    assert.equal(info.get('UUID'), copy.id);
    const xml = await dumpxml(a.uri, 'copy-1');
    assert.ok(xml.includes(`<mac address='${copy.definition.network.mac}'/>`));
    assert.notEqual(copy.definition.network.mac, source.definition.network.mac);
    assert.ok(xml.includes(`<source file='${diskOf(a, 'copy-1')}'/>`));
    const img = await imageInfo(diskOf(a, 'copy-1'));
    assert.equal(img['backing-filename'], undefined, 'the copy stands alone');
    assert.ok(await hasPattern(diskOf(a, 'copy-1'), 0x5a), 'the copy has the source disk content');
    assert.ok(await hasPattern(diskOf(a, 'src-1'), 0x5a), 'the source is untouched');
    assert.equal(await domstate(a.uri, 'src-1'), 'shut off');
    await driver.start(a.ref, 'copy-1');
    assert.equal(await domstate(a.uri, 'copy-1'), 'running');
    await driver.stop(a.ref, 'copy-1');
  });

  it('clones a stopped domain to another host through a libvirt stream', async (t) => {
    if (!a || !b) return t.skip(skipMessage());
    const copy = tinySpec('copy-2');
    const steps: Progress[] = [];
    await driver.clone(a.ref, 'src-1', b.ref, copy, { progress: (p) => steps.push(p) });
    assert.equal(await domstate(b.uri, 'copy-2'), 'shut off');
    assert.ok(existsSync(diskOf(b, 'copy-2')));
    assert.ok(await hasPattern(diskOf(b, 'copy-2'), 0x5a));
    assert.ok(steps.some((s) => s.step === 'uploading disk'));
    const seen = await driver.containerStatus(b.ref, 'copy-2');
    assert.equal(seen?.state, 'stopped');
    assert.equal(seen?.mac, copy.definition.network.mac);
    // no temporary copy left behind on the source
    const vols = await virsh(a.uri, 'vol-list', '--pool', (await virsh(a.uri, 'vol-pool', `--vol=${diskOf(a, 'src-1')}`)).stdout.trim());
    assert.doesNotMatch(vols.stdout, /vmflow-copy/);
  });

  it('refuses to clone a running domain', async (t) => {
    if (!a) return t.skip(skipMessage());
    await driver.start(a.ref, 'src-1');
    await assert.rejects(
      driver.clone(a.ref, 'src-1', a.ref, tinySpec('copy-3')),
      (e: unknown) => e instanceof DriverError && /needs it stopped/.test(e.driverMessage),
    );
    assert.equal(await domstate(a.uri, 'copy-3'), undefined);
    await driver.stop(a.ref, 'src-1');
  });
});

describe('libvirt driver: migration', { concurrency: false }, () => {
  it('migrates a stopped domain cold: definition and disk move, the source forgets it', async (t) => {
    if (!a || !b) return t.skip(skipMessage());
    const spec = tinySpec('cold-1');
    await driver.define(a.ref, spec);
    await driver.provision(a.ref, spec);
    await writePattern(diskOf(a, 'cold-1'), 0x3c);
    await driver.applyConfig(a.ref, 'cold-1', 'app.conf', 'v=1\n');
    await driver.migrate(a.ref, b.ref, spec, { live: false });
    assert.equal(await domstate(a.uri, 'cold-1'), undefined);
    assert.equal(existsSync(diskOf(a, 'cold-1')), false, 'the source disk is removed');
    assert.equal(await domstate(b.uri, 'cold-1'), 'shut off');
    const info = await dominfo(b.uri, 'cold-1');
    assert.equal(info.get('UUID'), spec.id);
    assert.ok((await dumpxml(b.uri, 'cold-1')).includes(`<source file='${diskOf(b, 'cold-1')}'/>`));
    assert.ok(await hasPattern(diskOf(b, 'cold-1'), 0x3c));
    assert.equal(await driver.readConfig(b.ref, 'cold-1', 'app.conf'), 'v=1\n');
    assert.equal(await driver.readConfig(a.ref, 'cold-1', 'app.conf'), undefined);
    await driver.start(b.ref, 'cold-1');
    assert.equal(await domstate(b.uri, 'cold-1'), 'running');
  });

  it('refuses a cold migration of a running domain', async (t) => {
    if (!a || !b) return t.skip(skipMessage());
    await assert.rejects(
      driver.migrate(b.ref, a.ref, tinySpec('cold-1'), { live: false }),
      (e: unknown) => e instanceof DriverError && /cold migration needs it stopped/.test(e.driverMessage),
    );
    assert.equal(await domstate(b.uri, 'cold-1'), 'running');
  });

  it('migrates a running domain live, copying its disk to the target storage', async (t) => {
    if (!a || !b) return t.skip(skipMessage());
    const spec = tinySpec('live-1');
    await driver.define(a.ref, spec);
    await driver.provision(a.ref, spec);
    await driver.start(a.ref, 'live-1');
    const fractions: number[] = [];
    await driver.migrate(a.ref, b.ref, spec, { live: true }, { progress: (p) => p.fraction !== undefined && fractions.push(p.fraction) });
    assert.equal(await domstate(b.uri, 'live-1'), 'running');
    assert.equal(await domstate(a.uri, 'live-1'), undefined);
    assert.equal(existsSync(diskOf(a, 'live-1')), false);
    assert.ok(existsSync(diskOf(b, 'live-1')));
    assert.ok((await dumpxml(b.uri, 'live-1')).includes(`<source file='${diskOf(b, 'live-1')}'`));
    assert.ok((await dumpxml(b.uri, 'live-1', true)).includes(`<source file='${diskOf(b, 'live-1')}'`), 'persistent config too');
    assert.equal((await dominfo(b.uri, 'live-1')).get('Persistent'), 'yes');
    assert.ok(fractions.includes(1), `progress reported: ${fractions.join(',')}`);
  });

  it('migrates live between hosts that share the storage folder: the disk stays put', async (t) => {
    if (!a || !shared) return t.skip(skipMessage());
    const spec = tinySpec('live-2');
    await driver.define(a.ref, spec);
    await driver.provision(a.ref, spec);
    await driver.start(a.ref, 'live-2');
    await driver.migrate(a.ref, shared.ref, spec, { live: true });
    assert.equal(await domstate(shared.uri, 'live-2'), 'running');
    assert.equal(await domstate(a.uri, 'live-2'), undefined);
    assert.ok(existsSync(diskOf(a, 'live-2')), 'same file, now used by the other daemon');
    // and back, cold
    await driver.stop(shared.ref, 'live-2');
    await driver.migrate(shared.ref, a.ref, spec, { live: false });
    assert.equal(await domstate(a.uri, 'live-2'), 'shut off');
    assert.ok(existsSync(diskOf(a, 'live-2')));
  });

  it('falls back to a cold migration when asked for live but the domain is stopped', async (t) => {
    if (!a || !b) return t.skip(skipMessage());
    const spec = tinySpec('cold-2');
    await driver.define(a.ref, spec);
    await driver.migrate(a.ref, b.ref, spec, { live: true });
    assert.equal(await domstate(b.uri, 'cold-2'), 'shut off');
    assert.equal(await domstate(a.uri, 'cold-2'), undefined);
    assert.equal((await driver.containerStatus(b.ref, 'cold-2'))?.state, 'defined');
    assert.ok((await dumpxml(b.uri, 'cold-2')).includes(`<source file='${diskOf(b, 'cold-2')}'/>`), 'points at the target storage');
    await driver.provision(b.ref, tinySpec('cold-2'));
    await driver.start(b.ref, 'cold-2');
    assert.equal(await domstate(b.uri, 'cold-2'), 'running');
  });

  it('refuses to migrate onto a host that already has the name', async (t) => {
    if (!a || !b) return t.skip(skipMessage());
    const spec = tinySpec('dup-1');
    await driver.define(a.ref, spec);
    await driver.define(b.ref, tinySpec('dup-1'));
    await assert.rejects(driver.migrate(a.ref, b.ref, spec, { live: false }), /already exists/);
    assert.equal(await domstate(a.uri, 'dup-1'), 'shut off');
  });
});
