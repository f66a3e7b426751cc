// The libvirt driver's pure parts: XML building and reading, virsh output, error classification.
// Needs no daemon.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  dirPoolXml,
  domainXml,
  escapeXml,
  parseDomainXml,
  rewriteDiskSource,
  unescapeXml,
  volumeXml,
  type DomainXmlInput,
} from '../../src/drivers/libvirt/domain-xml';
import {
  isUnreachable,
  libvirtMessage,
  observedState,
  parseCpuBusy,
  parseDomState,
  parseMemStats,
} from '../../src/drivers/libvirt/virsh-output';

const input: DomainXmlInput = {
  name: `a&b<'c">`,
  uuid: '6f1c8a2e-1111-4a2b-9c3d-000000000001',
  cpus: 2,
  memoryMiB: 128,
  mac: '02:00:0a:00:00:05',
  diskPath: `/var/lib/vmflow/a&b<'c">.qcow2`,
  domainType: 'qemu',
  machine: 'pc',
  arch: 'x86_64',
  iface: { type: 'user' },
  metadata: { id: '6f1c8a2e-1111-4a2b-9c3d-000000000001', kind: 'web', ip: '10.0.0.5', diskGiB: 3, image: 'base & co.qcow2' },
};

describe('libvirt domain XML', () => {
  it('escapes the five XML specials in text and attributes', () => {
    assert.equal(escapeXml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;');
    assert.equal(unescapeXml(escapeXml(`<'&">`)), `<'&">`);
    assert.equal(unescapeXml('&#65;&#x42;'), 'AB');
  });

  it('builds a domain with no raw specials from the definition', () => {
    const xml = domainXml(input);
    assert.ok(xml.includes('<name>a&amp;b&lt;&apos;c&quot;&gt;</name>'));
    assert.ok(xml.includes(`<source file='/var/lib/vmflow/a&amp;b&lt;&apos;c&quot;&gt;.qcow2'/>`));
    assert.ok(xml.includes("<mac address='02:00:0a:00:00:05'/>"));
    assert.ok(xml.includes("<memory unit='MiB'>128</memory>"));
    assert.ok(xml.includes("<vcpu placement='static'>2</vcpu>"));
    assert.ok(xml.includes("<interface type='user'>"));
    assert.ok(xml.includes("<console type='pty'>"));
    assert.doesNotMatch(xml, /<graphics/);
    // Every '&' starts an entity.
    assert.doesNotMatch(xml, /&(?!amp;|lt;|gt;|quot;|apos;)/);
  });

  it('attaches to an existing bridge or network without defining one', () => {
    assert.ok(domainXml({ ...input, iface: { type: 'bridge', bridge: 'br0' } }).includes("<source bridge='br0'/>"));
    assert.ok(domainXml({ ...input, iface: { type: 'network', network: 'default' } }).includes("<source network='default'/>"));
  });

  it('reads back what it wrote', () => {
    const facts = parseDomainXml(domainXml(input));
    assert.equal(facts.name, input.name);
    assert.equal(facts.uuid, input.uuid);
    assert.equal(facts.cpus, 2);
    assert.equal(facts.memoryMiB, 128);
    assert.equal(facts.mac, input.mac);
    assert.equal(facts.diskPath, input.diskPath);
    assert.deepEqual(facts.metadata, input.metadata);
  });

  it('reads libvirt’s own dump: KiB memory, live disk index, prefixed metadata', () => {
    const dump = `<domain type='qemu' id='3'>
  <name>web1</name>
  <uuid>6f1c8a2e-1111-4a2b-9c3d-000000000002</uuid>
  <metadata>
    <vmflow:container xmlns:vmflow="urn:vmflow:container:1">
      <vmflow:id>x</vmflow:id>
      <vmflow:diskGiB>4</vmflow:diskGiB>
    </vmflow:container>
  </metadata>
  <memory unit='KiB'>65536</memory>
  <memoryBacking><source type='anonymous'/></memoryBacking>
  <vcpu placement='static'>1</vcpu>
  <devices>
    <disk type='file' device='cdrom'><source file='/iso/x.iso'/></disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/srv/o&apos;neil.qcow2' index='1'/>
    </disk>
    <interface type='user'><mac address='02:00:0a:00:00:09'/></interface>
  </devices>
</domain>`;
    const facts = parseDomainXml(dump);
    assert.equal(facts.memoryMiB, 64);
    assert.equal(facts.cpus, 1);
    assert.equal(facts.diskPath, "/srv/o'neil.qcow2");
    assert.equal(facts.mac, '02:00:0a:00:00:09');
    assert.equal(facts.metadata.diskGiB, 4);
    const moved = rewriteDiskSource(dump, "/srv/o'neil.qcow2", '/b/&.qcow2');
    assert.ok(moved.includes("<source file='/b/&amp;.qcow2' index='1'/>"));
    assert.ok(moved.includes("<source file='/iso/x.iso'/>"), 'the cdrom is left alone');
    assert.throws(() => rewriteDiskSource(dump, '/nope', '/b'));
  });

  it('writes volume and pool XML with escaped names and a backing store', () => {
    const vol = volumeXml({ name: 'a&b.qcow2', capacityBytes: 1024, format: 'qcow2', backing: { path: '/img/base.qcow2', format: 'qcow2' } });
    assert.ok(vol.includes('<name>a&amp;b.qcow2</name>'));
    assert.ok(vol.includes("<capacity unit='bytes'>1024</capacity>"));
    assert.match(vol, /<backingStore>\s*<path>\/img\/base.qcow2<\/path>\s*<format type='qcow2'\/>/);
    assert.ok(dirPoolXml('p', '/s & t').includes('<path>/s &amp; t</path>'));
  });
});

describe('virsh output', () => {
  it('maps libvirt states to observed states', () => {
    assert.equal(observedState('running', 'booted', true), 'running');
    assert.equal(observedState('paused', 'user', true), 'suspended');
    assert.equal(observedState('paused', 'incoming migration', true), 'migrating');
    assert.equal(observedState('shut off', 'destroyed', true), 'stopped');
    assert.equal(observedState('shut off', 'unknown', false), 'defined');
    assert.equal(observedState('shut off', 'crashed', true), 'crashed');
    assert.equal(observedState('pmsuspended', 'unknown', true), 'suspended');
    assert.deepEqual(parseDomState('shut off (destroyed)\n\n'), { state: 'shut off', reason: 'destroyed' });
    assert.deepEqual(parseDomState('running\n'), { state: 'running', reason: '' });
  });

  it('reads node memory and CPU statistics', () => {
    const mem = parseMemStats('total  :             24684084 KiB\nfree   :             24305900 KiB\nbuffers:                 2380 KiB\n');
    assert.equal(mem.get('total'), 24684084);
    assert.equal(mem.get('buffers'), 2380);
    assert.equal(parseCpuBusy('usage:            3.0%\nuser:             2.0%\nsystem:           1.0%\nidle:            97.0%\n'), 0.03);
  });

  it('keeps libvirt’s message, schema details included', () => {
    const stderr =
      'error: Failed to define domain from x.xml\nerror: XML document failed to validate against schema: Unable to validate doc\nExtra element vcpu in interleave\n\n';
    assert.equal(
      libvirtMessage(stderr),
      'Failed to define domain from x.xml: XML document failed to validate against schema: Unable to validate doc: Extra element vcpu in interleave',
    );
  });

  it('tells a daemon that did not answer from one that refused', () => {
    assert.ok(isUnreachable("error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/x': Connection refused"));
    assert.ok(isUnreachable('error: End of file while reading data: Input/output error'));
    assert.ok(isUnreachable('error: Disconnected from qemu:///system due to end of file'));
    assert.equal(isUnreachable("error: Failed to start domain 'x'\nerror: Requested operation is not valid: domain is already running"), false);
  });
});
