// Every container command through vmflow's workflows, against two real libvirt daemons running
// QEMU under TCG: each step checked through virsh, qemu-img and the storage folders.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CommandResult } from '../../src/domain/commands';
import { skipMessage, virsh } from '../support/libvirt';
import { dominfo, domstate, dumpxml, hasPattern, imageInfo, watchReboots, writePattern } from '../libvirt/checks';
import { assertHostsMatchRegistry, domains, startLibvirtStack, storageEntries, tiny, type LibvirtStack } from './harness';

let ls: LibvirtStack | undefined;

before(async () => {
  ls = await startLibvirtStack([{ name: 'lv-a' }, { name: 'lv-b' }]);
  if (!ls) console.log(skipMessage());
});
after(async () => {
  await ls?.stop();
});

const disk = (host: string, name: string) => path.join(ls!.host(host).storagePath, `${name}.qcow2`);
const uri = (host: string) => ls!.host(host).uri;
const containers = () => ls!.stack.client.containers;

async function run(cmd: 'start' | 'stop' | 'suspend' | 'resume' | 'reboot' | 'destroy', name: string): Promise<CommandResult> {
  return (await containers()[cmd](name)).result();
}

describe('container commands on libvirt hosts', { concurrency: false }, () => {
  it('create defines, provisions and starts a domain with the registry’s uuid, size, MAC and disk', async (t) => {
    if (!ls) return t.skip(skipMessage());
    const r = await (await containers().create('vm1', { definition: tiny, hint: 'lv-a' })).result();
    assert.equal(r.state, 'running');
    assert.equal(r.host, 'lv-a');
    const node = await containers().get('vm1');
    assert.equal(node.state, 'running');
    const info = await dominfo(uri('lv-a'), 'vm1');
    assert.equal(info.get('State'), 'running');
    assert.equal(info.get('UUID'), node.id);
    assert.equal(info.get('CPU(s)'), '1');
    assert.equal(info.get('Max memory'), '65536 KiB');
    assert.equal(info.get('Persistent'), 'yes');
    const xml = await dumpxml(uri('lv-a'), 'vm1');
    assert.ok(xml.includes(`<mac address='${node.definition.network.mac}'/>`), 'the MAC the provisioner allocated');
    assert.ok(xml.includes(`<source file='${disk('lv-a', 'vm1')}'`));
    const img = await imageInfo(disk('lv-a', 'vm1'));
    assert.equal(img['backing-filename'], ls.host('lv-a').baseImage, 'an overlay of the image the definition names');
    assert.equal(img['virtual-size'], 1024 ** 3);
    assert.deepEqual(await domains(uri('lv-b')), []);
    await assertHostsMatchRegistry(ls);
  });

  it('suspend, resume, reboot, shutdown, start and stop change the domain as virsh sees it', async (t) => {
    if (!ls) return t.skip(skipMessage());
    const expect = async (r: CommandResult, registry: string, virshState: string) => {
      assert.equal(r.state, registry, r.command);
      assert.equal((await containers().get('vm1')).state, registry, r.command);
      assert.equal(await domstate(uri('lv-a'), 'vm1'), virshState, r.command);
    };
    await expect(await run('suspend', 'vm1'), 'suspended', 'paused');
    await expect(await run('resume', 'vm1'), 'running', 'running');

    const id = (await dominfo(uri('lv-a'), 'vm1')).get('Id');
    const reboots = await watchReboots(uri('lv-a'), 'vm1', 30);
    await expect(await run('reboot', 'vm1'), 'running', 'running');
    // The guest has no OS to act on ACPI, so the driver resets it; its firmware may reset once more
    // while it comes up, so the count is at least one.
    assert.ok((await reboots()) >= 1, 'the guest was reset');
    assert.equal((await dominfo(uri('lv-a'), 'vm1')).get('Id'), id, 'the same QEMU process: rebooted, not restarted');

    const began = Date.now();
    await expect(await (await containers().shutdown('vm1', 1000)).result(), 'stopped', 'shut off');
    assert.ok(Date.now() - began >= 1000, 'the guest was given its timeout first');
    assert.equal((await virsh(uri('lv-a'), 'domstate', '--reason', '--domain=vm1')).stdout.trim(), 'shut off (destroyed)');

    await expect(await run('start', 'vm1'), 'running', 'running');
    await expect(await run('stop', 'vm1'), 'stopped', 'shut off');
    await assertHostsMatchRegistry(ls);
  });

  it('clone copies a stopped container: its own disk (with the content), MAC and uuid, on the same host or another', async (t) => {
    if (!ls) return t.skip(skipMessage());
    await writePattern(disk('lv-a', 'vm1'), 0x5a);
    const near = await (await containers().clone('vm1', { name: 'vm1-near', hint: 'lv-a' })).result();
    const far = await (await containers().clone('vm1', { name: 'vm1-far', hint: 'lv-b' })).result();
    assert.equal(near.created?.host, 'lv-a');
    assert.equal(far.created?.host, 'lv-b');
    const source = await containers().get('vm1');
    for (const [name, host] of [['vm1-near', 'lv-a'], ['vm1-far', 'lv-b']] as const) {
      const node = await containers().get(name);
      assert.equal(node.state, 'stopped');
      assert.notEqual(node.definition.network.mac, source.definition.network.mac);
      assert.notEqual(node.definition.network.ip, source.definition.network.ip);
      const info = await dominfo(uri(host), name);
      assert.equal(info.get('State'), 'shut off');
      assert.equal(info.get('UUID'), node.id);
      const xml = await dumpxml(uri(host), name);
      assert.ok(xml.includes(`<mac address='${node.definition.network.mac}'/>`), `${name} has its own MAC`);
      assert.ok(xml.includes(`<source file='${disk(host, name)}'/>`), `${name} has its own disk`);
      assert.equal((await imageInfo(disk(host, name)))['backing-filename'], undefined, 'the copy stands alone');
      assert.ok(await hasPattern(disk(host, name), 0x5a), `${name} has the source's data`);
    }
    await writePattern(disk('lv-a', 'vm1-near'), 0x33);
    assert.ok(await hasPattern(disk('lv-a', 'vm1'), 0x5a), 'writing the clone leaves the source alone');
    assert.equal(await domstate(uri('lv-a'), 'vm1'), 'shut off');
    await run('start', 'vm1-near');
    assert.equal(await domstate(uri('lv-a'), 'vm1-near'), 'running', 'the clone boots from its own disk');
    await assertHostsMatchRegistry(ls);
  });

  it('migrate moves a stopped container cold to the other daemon: definition, disk and data', async (t) => {
    if (!ls) return t.skip(skipMessage());
    const r = await (await containers().migrate('vm1', { target: 'lv-b' })).result();
    assert.equal(r.host, 'lv-b');
    assert.equal(r.state, 'stopped');
    assert.equal(await domstate(uri('lv-a'), 'vm1'), undefined);
    assert.equal(existsSync(disk('lv-a', 'vm1')), false, 'the source disk is gone');
    assert.equal(await domstate(uri('lv-b'), 'vm1'), 'shut off');
    assert.ok((await dumpxml(uri('lv-b'), 'vm1')).includes(`<source file='${disk('lv-b', 'vm1')}'/>`));
    assert.ok(await hasPattern(disk('lv-b', 'vm1'), 0x5a), 'the data moved with it');
    const node = await containers().get('vm1');
    assert.equal(node.parentId, (await ls.stack.client.hypervisors.get('lv-b')).id);
    await assertHostsMatchRegistry(ls);
  });

  it('migrate moves a running container live: it keeps running, its disk is copied, the source forgets it', async (t) => {
    if (!ls) return t.skip(skipMessage());
    await run('start', 'vm1');
    const before = await dominfo(uri('lv-b'), 'vm1');
    assert.equal(before.get('State'), 'running');
    const h = await containers().migrate('vm1', { target: 'lv-a' });
    const r = await h.result();
    assert.equal(r.host, 'lv-a');
    assert.equal(r.state, 'running');
    assert.ok(r.steps.some((s) => /^live migrate lv-b → lv-a$/.test(s)), r.steps.join(', '));
    assert.equal(await domstate(uri('lv-b'), 'vm1'), undefined, 'undefined on the source');
    assert.equal(existsSync(disk('lv-b', 'vm1')), false, 'the source disk is wiped');
    const info = await dominfo(uri('lv-a'), 'vm1');
    assert.equal(info.get('State'), 'running');
    assert.equal((await virsh(uri('lv-a'), 'domstate', '--reason', '--domain=vm1')).stdout.trim(), 'running (migrated)', 'it arrived running, not restarted');
    assert.equal(info.get('Persistent'), 'yes');
    assert.equal(info.get('UUID'), before.get('UUID'));
    assert.ok((await dumpxml(uri('lv-a'), 'vm1')).includes(`<source file='${disk('lv-a', 'vm1')}'`), 'runs from the target storage');
    assert.ok((await dumpxml(uri('lv-a'), 'vm1', true)).includes(`<source file='${disk('lv-a', 'vm1')}'`), 'and its persistent definition too');
    assert.equal((await containers().get('vm1')).state, 'running');
    await assertHostsMatchRegistry(ls);
  });

  it('destroy stops, wipes and undefines: no domain, no disk, no registry node, keys free', async (t) => {
    if (!ls) return t.skip(skipMessage());
    const nodes = await Promise.all(['vm1', 'vm1-near', 'vm1-far'].map((n) => containers().get(n)));
    for (const n of nodes) assert.equal((await run('destroy', n.name)).state, 'destroyed');
    for (const h of ['lv-a', 'lv-b']) {
      assert.deepEqual(await domains(uri(h)), [], `no domain left on ${h}`);
      assert.deepEqual(storageEntries(ls.host(h)), [], `nothing left in ${h}'s storage folder`);
    }
    for (const n of nodes) {
      assert.equal(await ls.stack.services.registry.findByName(n.name), undefined);
      assert.equal(await ls.stack.services.registry.findByKey(`mac:${n.definition.network.mac}`), undefined);
    }
    await assertHostsMatchRegistry(ls);
  });
});
