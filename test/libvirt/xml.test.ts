// The libvirt driver's pure parts: XML building and reading, virsh output, error classification.
// Needs no daemon.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { XMLValidator } from 'fast-xml-parser';
import {
  domainXml,
  escapeXml,
  parseDomainXml,
  rewriteDiskSource,
  unescapeXml,
  type DomainXmlInput,
} from '../../src/drivers/libvirt/domain-xml';
import { dirPoolXml, parseVolumeXml, volumeXml } from '../../src/drivers/libvirt/storage-xml';
import {
  isUnreachable,
  libvirtMessage,
  observedState,
  parseCpuBusy,
  parseDomState,
  parseMemStats,
} from '../../src/drivers/libvirt/virsh-output';
import { childNamed, childrenNamed, el, parseXml, textOf, type XmlElement } from '../../src/drivers/libvirt/xml';

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

/** The element at `path` (tags from the root's children down), failing the test when absent. */
function at(root: XmlElement, ...path: string[]): XmlElement {
  let node = root;
  for (const tag of path) {
    const next = childNamed(node, tag);
    assert.ok(next, `<${node.tag}> has a <${tag}>`);
    node = next;
  }
  return node;
}

/** Well-formed, and every '&' starts one of the five entities. */
function assertWellFormed(xml: string): void {
  assert.equal(XMLValidator.validate(xml), true);
  assert.doesNotMatch(xml, /&(?!amp;|lt;|gt;|quot;|apos;)/);
}

describe('libvirt domain XML', () => {
  it('escapes the five XML specials in text and attributes', () => {
    assert.equal(escapeXml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;');
    assert.equal(unescapeXml(escapeXml(`<'&">`)), `<'&">`);
    assert.equal(unescapeXml('&#65;&#x42;'), 'AB');
  });

  it('builds a domain with no raw specials from the definition', () => {
    const xml = domainXml(input);
    assertWellFormed(xml);
    assert.ok(xml.includes('<name>a&amp;b&lt;&apos;c&quot;&gt;</name>'));
    const domain = parseXml(xml);
    assert.equal(domain.tag, 'domain');
    assert.equal(domain.attrs.type, 'qemu');
    assert.equal(textOf(at(domain, 'name')), input.name);
    assert.equal(at(domain, 'devices', 'disk', 'source').attrs.file, input.diskPath);
    assert.deepEqual(at(domain, 'devices', 'disk', 'driver').attrs, { name: 'qemu', type: 'qcow2' });
    assert.equal(at(domain, 'devices', 'interface', 'mac').attrs.address, '02:00:0a:00:00:05');
    assert.deepEqual(at(domain, 'memory'), { tag: 'memory', attrs: { unit: 'MiB' }, children: ['128'] });
    assert.deepEqual(at(domain, 'vcpu'), { tag: 'vcpu', attrs: { placement: 'static' }, children: ['2'] });
    assert.equal(at(domain, 'devices', 'interface').attrs.type, 'user');
    assert.equal(childNamed(at(domain, 'devices', 'interface'), 'source'), undefined);
    assert.equal(at(domain, 'devices', 'console').attrs.type, 'pty');
    assert.equal(childNamed(at(domain, 'devices'), 'graphics'), undefined);
    assert.equal(childNamed(at(domain, 'devices'), 'emulator'), undefined, 'libvirt picks the emulator when none is set');
    assert.deepEqual(at(domain, 'features').children, [el('acpi'), el('apic')]);
  });

  it('attaches to an existing bridge or network without defining one', () => {
    const bridge = parseXml(domainXml({ ...input, iface: { type: 'bridge', bridge: 'br0' } }));
    assert.equal(at(bridge, 'devices', 'interface').attrs.type, 'bridge');
    assert.deepEqual(at(bridge, 'devices', 'interface', 'source').attrs, { bridge: 'br0' });
    const network = parseXml(domainXml({ ...input, iface: { type: 'network', network: 'default' } }));
    assert.deepEqual(at(network, 'devices', 'interface', 'source').attrs, { network: 'default' });
  });

  it('escapes every value it writes: attributes with both quotes, text with ]]>, outer spaces, non-ASCII', () => {
    const odd: DomainXmlInput = {
      ...input,
      name: ' web ]]> "1" ',
      diskPath: `/srv/it's "a" <disk> & more/é.qcow2`,
      emulator: '/usr/bin/qemu<&>"\'',
      iface: { type: 'network', network: `net "x" & 'y'` },
      metadata: { id: 'x&y', kind: '<kind>', ip: `"10.0.0.1"`, diskGiB: 7, image: ']]>&amp;' },
    };
    const xml = domainXml(odd);
    assertWellFormed(xml);
    assert.doesNotMatch(xml, /]]>/);
    const domain = parseXml(xml);
    assert.equal(textOf(at(domain, 'name')), odd.name);
    assert.equal(textOf(at(domain, 'devices', 'emulator')), odd.emulator);
    assert.equal(at(domain, 'devices', 'interface', 'source').attrs.network, `net "x" & 'y'`);
    const facts = parseDomainXml(xml);
    assert.equal(facts.name, odd.name);
    assert.equal(facts.diskPath, odd.diskPath);
    assert.deepEqual(facts.metadata, odd.metadata);
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

  const dump = `<domain type='qemu' id='3'>
  <name>web1</name>
  <uuid>6f1c8a2e-1111-4a2b-9c3d-000000000002</uuid>
  <metadata>
    <other:container xmlns:other="urn:someone:else">
      <other:id>not ours</other:id>
    </other:container>
    <vm:container xmlns:vm="urn:vmflow:container:1">
      <vm:id>x</vm:id>
      <vm:diskGiB>4</vm:diskGiB>
    </vm:container>
  </metadata>
  <memory unit='KiB'>65536</memory>
  <memoryBacking><source type='anonymous'/></memoryBacking>
  <vcpu placement='static'>1</vcpu>
  <devices>
    <disk type='file' device='cdrom'><source file='/iso/x.iso'/></disk>
    <controller type='usb' index='0' model='piix3-uhci'/>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/srv/o&apos;neil.qcow2' index='1'/>
      <backingStore/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='user'><mac address='02:00:0a:00:00:09'/></interface>
    <seclabel type='none' model='none' relabel='yes'/>
  </devices>
</domain>`;

  it('reads libvirt’s own dump: KiB memory, live disk index, metadata by namespace not prefix', () => {
    const facts = parseDomainXml(dump);
    assert.equal(facts.name, 'web1');
    assert.equal(facts.memoryMiB, 64);
    assert.equal(facts.cpus, 1);
    assert.equal(facts.diskPath, "/srv/o'neil.qcow2");
    assert.equal(facts.mac, '02:00:0a:00:00:09');
    assert.equal(facts.metadata.id, 'x');
    assert.equal(facts.metadata.diskGiB, 4);
  });

  it('rewrites the disk source and keeps everything else of the dump in order', () => {
    const moved = rewriteDiskSource(dump, "/srv/o'neil.qcow2", '/b/&.qcow2');
    assertWellFormed(moved);
    const before = parseXml(dump);
    const after = parseXml(moved);
    const disk = childrenNamed(at(after, 'devices'), 'disk')[1]!;
    assert.deepEqual(childNamed(disk, 'source')?.attrs, { file: '/b/&.qcow2', index: '1' });
    assert.equal(parseDomainXml(moved).diskPath, '/b/&.qcow2');
    // Apart from that one attribute the documents are the same tree: order, attributes, text.
    const restored = parseXml(rewriteDiskSource(moved, '/b/&.qcow2', "/srv/o'neil.qcow2"));
    assert.deepEqual(restored, before);
    assert.deepEqual(
      at(after, 'devices').children.map((c) => (typeof c === 'string' ? c : c.tag)),
      ['disk', 'controller', 'disk', 'interface', 'seclabel'],
    );
    assert.deepEqual(childNamed(childrenNamed(at(after, 'devices'), 'disk')[0], 'source')?.attrs, { file: '/iso/x.iso' }, 'the cdrom is left alone');
    assert.throws(() => rewriteDiskSource(dump, '/nope', '/b'), /no file disk/);
  });

  it('writes volume and pool XML with escaped names and a backing store', () => {
    const vol = volumeXml({ name: `a&b'"<>.qcow2`, capacityBytes: 1024, format: 'qcow2', backing: { path: '/img/base & co.qcow2', format: 'raw' } });
    assertWellFormed(vol);
    const v = parseXml(vol);
    assert.equal(v.attrs.type, 'file');
    assert.equal(textOf(at(v, 'name')), `a&b'"<>.qcow2`);
    assert.deepEqual(at(v, 'capacity'), { tag: 'capacity', attrs: { unit: 'bytes' }, children: ['1024'] });
    assert.equal(at(v, 'target', 'format').attrs.type, 'qcow2');
    assert.equal(textOf(at(v, 'backingStore', 'path')), '/img/base & co.qcow2');
    assert.equal(at(v, 'backingStore', 'format').attrs.type, 'raw');
    assert.equal(childNamed(parseXml(volumeXml({ name: 'x', capacityBytes: 1, format: 'raw' })), 'backingStore'), undefined);
    const pool = parseXml(dirPoolXml('p', '/s & t'));
    assert.equal(pool.attrs.type, 'dir');
    assert.equal(textOf(at(pool, 'target', 'path')), '/s & t');
  });

  it('reads a base image’s format and size from vol-dumpxml', () => {
    const dumped = `<volume type='file'>
  <name>base.qcow2</name>
  <capacity unit='bytes'>67108864</capacity>
  <target>
    <path>/img/base.qcow2</path>
    <format type='raw'/>
  </target>
  <backingStore>
    <path>/img/older.qcow2</path>
    <format type='qcow2'/>
  </backingStore>
</volume>`;
    assert.deepEqual(parseVolumeXml(dumped), { format: 'raw', capacityBytes: 67108864 });
    assert.deepEqual(parseVolumeXml(`<volume><name>x</name><target/></volume>`), { format: 'qcow2', capacityBytes: 0 });
  });

  it('refuses a document that is not well-formed', () => {
    assert.throws(() => parseDomainXml('<domain><name>a & b</name></domain>'));
    assert.throws(() => parseDomainXml('<pool/>'), /expected a <domain>/);
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
