// The libvirt driver against a real libvirtd (QEMU under TCG): a container's whole life, each step
// checked through virsh and qemu-img rather than through the driver.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DriverError } from '../../src/domain/errors';
import type { Progress } from '../../src/drivers/driver';
import { LibvirtDriver } from '../../src/drivers/libvirt';
import { skipMessage, startLibvirt, virsh, type LibvirtTestHost } from '../support/libvirt';
import { dominfo, domstate, dumpxml, imageInfo, tinySpec, watchReboots } from './checks';

const driver = new LibvirtDriver({ rebootAckMs: 1500, pollMs: 100 });
let host: LibvirtTestHost | undefined;

before(async () => {
  host = await startLibvirt({ name: 'lv-life' });
  if (!host) console.log(skipMessage());
});
after(async () => {
  await host?.stop();
});

describe('libvirt driver: a container from define to deprovision', { concurrency: false }, () => {
  const spec = tinySpec('life-1');
  const disk = () => path.join(host!.storagePath, 'life-1.qcow2');

  it('reports the host: cpus, memory, free memory, load and no containers', async (t) => {
    if (!host) return t.skip(skipMessage());
    const status = await driver.hostStatus(host.ref);
    assert.equal(status.reachable, true);
    assert.equal(status.capacity.cpus, cpus().length);
    assert.ok(status.capacity.memoryMiB > 256, `memory ${status.capacity.memoryMiB}`);
    assert.ok(status.free.memoryMiB > 0 && status.free.memoryMiB <= status.capacity.memoryMiB);
    assert.ok(status.capacity.diskGiB > 0 && status.free.diskGiB <= status.capacity.diskGiB);
    assert.ok(status.load >= 0 && status.load <= status.capacity.cpus);
    assert.deepEqual(status.containers, []);
  });

  it('defines a domain from the definition: uuid, vcpus, memory, MAC, user NIC, serial console, no graphics', async (t) => {
    if (!host) return t.skip(skipMessage());
    await driver.define(host.ref, spec);
    const info = await dominfo(host.uri, 'life-1');
    assert.equal(info.get('State'), 'shut off');
    assert.equal(info.get('UUID'), spec.id);
    assert.equal(info.get('CPU(s)'), '1');
    assert.equal(info.get('Max memory'), '65536 KiB');
    assert.equal(info.get('Persistent'), 'yes');
    const xml = await dumpxml(host.uri, 'life-1');
    assert.match(xml, /<domain type='qemu'/);
    assert.match(xml, new RegExp(`<mac address='${spec.definition.network.mac}'/>`));
    assert.match(xml, /<interface type='user'>/);
    assert.match(xml, /<serial type='pty'>/);
    assert.doesNotMatch(xml, /<graphics/);
    assert.ok(xml.includes(`<source file='${disk()}'/>`));
    const seen = await driver.containerStatus(host.ref, 'life-1');
    assert.deepEqual(seen, {
      name: 'life-1',
      uuid: spec.id,
      state: 'defined',
      cpus: 1,
      memoryMiB: 64,
      diskGiB: 1,
      mac: spec.definition.network.mac,
      provisioned: false,
    });
  });

  it('provisions a qcow2 overlay of the base image in the storage path', async (t) => {
    if (!host) return t.skip(skipMessage());
    const steps: Progress[] = [];
    await driver.provision(host.ref, spec, { progress: (p) => steps.push(p) });
    const img = await imageInfo(disk());
    assert.equal(img.format, 'qcow2');
    assert.equal(img['backing-filename'], host.baseImage);
    assert.equal(img['virtual-size'], 1024 ** 3);
    assert.ok(steps.length > 0, 'provision reports progress');
    const seen = await driver.containerStatus(host.ref, 'life-1');
    assert.equal(seen?.state, 'stopped');
    assert.equal(seen?.provisioned, true);
  });

  it('starts it: virsh sees it running and the host lists it', async (t) => {
    if (!host) return t.skip(skipMessage());
    await driver.start(host.ref, 'life-1');
    assert.equal(await domstate(host.uri, 'life-1'), 'running');
    const status = await driver.hostStatus(host.ref);
    assert.deepEqual(
      status.containers.map((c) => [c.name, c.state]),
      [['life-1', 'running']],
    );
    assert.equal(status.free.cpus, status.capacity.cpus - 1);
  });

  it('suspends and resumes it', async (t) => {
    if (!host) return t.skip(skipMessage());
    await driver.suspend(host.ref, 'life-1');
    assert.equal(await domstate(host.uri, 'life-1'), 'paused');
    assert.equal((await driver.containerStatus(host.ref, 'life-1'))?.state, 'suspended');
    await driver.resume(host.ref, 'life-1');
    assert.equal(await domstate(host.uri, 'life-1'), 'running');
    assert.equal((await driver.containerStatus(host.ref, 'life-1'))?.state, 'running');
  });

  it('reboots it: a guest without an OS ignores ACPI, so the driver resets it', async (t) => {
    if (!host) return t.skip(skipMessage());
    const reboots = await watchReboots(host.uri, 'life-1', 20);
    const steps: string[] = [];
    const began = Date.now();
    await driver.reboot(host.ref, 'life-1', { progress: (p) => steps.push(p.step) });
    const took = Date.now() - began;
    assert.equal(await reboots(), 1, 'exactly one reset reached the domain');
    assert.ok(took >= 1400, `waited for the ACPI reboot first (${took} ms)`);
    assert.ok(steps.some((s) => /reset/.test(s)), steps.join(', '));
    assert.equal(await domstate(host.uri, 'life-1'), 'running');
  });

  it('shuts it down: ACPI goes unanswered, so it is hard-stopped after the timeout', async (t) => {
    if (!host) return t.skip(skipMessage());
    const began = Date.now();
    await driver.shutdown(host.ref, 'life-1', 1000);
    const took = Date.now() - began;
    assert.ok(took >= 1000, `waited for the guest first (${took} ms)`);
    const r = await virsh(host.uri, 'domstate', '--reason', '--domain=life-1');
    assert.equal(r.stdout.trim(), 'shut off (destroyed)');
    assert.equal((await driver.containerStatus(host.ref, 'life-1'))?.state, 'stopped');
  });

  it('stops it hard', async (t) => {
    if (!host) return t.skip(skipMessage());
    await driver.start(host.ref, 'life-1');
    assert.equal(await domstate(host.uri, 'life-1'), 'running');
    await driver.stop(host.ref, 'life-1');
    assert.equal(await domstate(host.uri, 'life-1'), 'shut off');
  });

  it('refuses to wipe the disk of a running domain', async (t) => {
    if (!host) return t.skip(skipMessage());
    await driver.start(host.ref, 'life-1');
    await assert.rejects(driver.deprovision(host.ref, 'life-1'), (e: unknown) => e instanceof DriverError && /in use/.test(e.driverMessage));
    assert.ok(existsSync(disk()));
    await driver.stop(host.ref, 'life-1');
  });

  it('keeps config files in <storagePath>/<name>.config, standing in for a guest agent', async (t) => {
    if (!host) return t.skip(skipMessage());
    await driver.applyConfig(host.ref, 'life-1', '/etc/nginx/upstream.conf', 'server 10.0.0.7;\n');
    assert.equal(await driver.readConfig(host.ref, 'life-1', '/etc/nginx/upstream.conf'), 'server 10.0.0.7;\n');
    assert.ok(existsSync(path.join(host.storagePath, 'life-1.config', 'etc/nginx/upstream.conf')));
    assert.equal(await driver.readConfig(host.ref, 'life-1', 'etc/other.conf'), undefined);
    assert.deepEqual(await driver.listConfig(host.ref, 'life-1'), ['/etc/nginx/upstream.conf']);
    await assert.rejects(driver.applyConfig(host.ref, 'life-1', '../../escape', 'x'), DriverError);
    await assert.rejects(driver.applyConfig(host.ref, 'nobody', 'a.conf', 'x'), /not defined/);
  });

  it('undefines it: libvirt no longer knows it, the disk stays', async (t) => {
    if (!host) return t.skip(skipMessage());
    await driver.undefine(host.ref, 'life-1');
    const r = await virsh(host.uri, 'dominfo', '--domain=life-1');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /failed to get domain/);
    assert.equal(await driver.containerStatus(host.ref, 'life-1'), undefined);
    assert.ok(existsSync(disk()));
  });

  it('deprovisions it: the disk and its config folder are gone', async (t) => {
    if (!host) return t.skip(skipMessage());
    const steps: string[] = [];
    await driver.deprovision(host.ref, 'life-1', { progress: (p) => steps.push(p.step) });
    assert.equal(existsSync(disk()), false);
    assert.equal(existsSync(path.join(host.storagePath, 'life-1.config')), false);
    assert.ok(steps.some((s) => /wiping/.test(s)), 'the disk is wiped before removal');
    const vols = await virsh(host.uri, 'vol-list', '--pool', (await poolOf(host))!);
    assert.doesNotMatch(vols.stdout, /life-1/);
  });
});

describe('libvirt driver: definitions', () => {
  it('provisions a blank qcow2 of diskGiB when the definition has no image', async (t) => {
    if (!host) return t.skip(skipMessage());
    const spec = tinySpec('blank-1', { image: undefined, diskGiB: 2 });
    await driver.define(host.ref, spec);
    await driver.provision(host.ref, spec);
    const img = await imageInfo(path.join(host.storagePath, 'blank-1.qcow2'));
    assert.equal(img.format, 'qcow2');
    assert.equal(img['backing-filename'], undefined);
    assert.equal(img['virtual-size'], 2 * 1024 ** 3);
    await driver.start(host.ref, 'blank-1');
    assert.equal(await domstate(host.uri, 'blank-1'), 'running');
    await driver.stop(host.ref, 'blank-1');
    await driver.undefine(host.ref, 'blank-1');
    await driver.deprovision(host.ref, 'blank-1');
  });

  it("escapes the XML: a name with & and ' reaches libvirt unchanged", async (t) => {
    if (!host) return t.skip(skipMessage());
    const name = "o'neil & <co>";
    const spec = tinySpec(name, { kind: 'a&b' });
    await driver.define(host.ref, spec);
    const info = await dominfo(host.uri, name);
    assert.equal(info.get('Name'), name);
    const seen = await driver.containerStatus(host.ref, name);
    assert.equal(seen?.name, name);
    assert.equal(seen?.mac, spec.definition.network.mac);
    await driver.provision(host.ref, spec);
    assert.ok(existsSync(path.join(host.storagePath, `${name}.qcow2`)));
    await driver.undefine(host.ref, name);
    await driver.deprovision(host.ref, name);
    assert.equal(existsSync(path.join(host.storagePath, `${name}.qcow2`)), false);
  });

  it('refuses a name that cannot be a file name or that virsh would read as an id', async (t) => {
    if (!host) return t.skip(skipMessage());
    await assert.rejects(driver.define(host.ref, tinySpec('a/b')), DriverError);
    await assert.rejects(driver.define(host.ref, tinySpec('..')), DriverError);
    // virsh would look these up as a domain id or uuid first
    await assert.rejects(driver.define(host.ref, tinySpec('42')), DriverError);
    await assert.rejects(driver.define(host.ref, tinySpec('6f1c8a2e-1111-4a2b-9c3d-000000000001')), DriverError);
  });
});

async function poolOf(h: LibvirtTestHost): Promise<string | undefined> {
  const r = await virsh(h.uri, 'vol-pool', `--vol=${path.join(h.storagePath, 'x')}`);
  if (r.code === 0) return r.stdout.trim();
  const pools = await virsh(h.uri, 'pool-list', '--all', '--name');
  for (const p of pools.stdout.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const x = await virsh(h.uri, 'pool-dumpxml', p);
    if (x.stdout.includes(`<path>${h.storagePath}</path>`)) return p;
  }
  return undefined;
}

