// Domain XML: built from a container's definition, and read back from `virsh dumpxml`.
import { childNamed, childrenNamed, el, elementsOf, localName, parseXml, renderXml, textOf, type XmlElement } from './xml';

export { escapeXml, unescapeXml } from './xml';

/** Namespace of vmflow's `<metadata>` element inside a domain. */
export const METADATA_NS = 'urn:vmflow:container:1';
const METADATA_PREFIX = 'vmflow';

/** How the domain's network interface attaches; no variant changes the host's bridges. */
export type InterfaceSource =
  | { readonly type: 'user' }
  | { readonly type: 'network'; readonly network: string }
  | { readonly type: 'bridge'; readonly bridge: string };

/** vmflow's facts about a container, kept in the domain so they travel with it. */
export interface ContainerMetadata {
  readonly id: string;
  readonly kind: string;
  readonly ip: string;
  readonly diskGiB: number;
  readonly image?: string;
}

export interface DomainXmlInput {
  readonly name: string;
  readonly uuid: string;
  readonly cpus: number;
  readonly memoryMiB: number;
  readonly mac: string;
  readonly diskPath: string;
  /** `qemu` (TCG, works without /dev/kvm) or `kvm`. */
  readonly domainType: string;
  readonly machine: string;
  readonly arch: string;
  readonly emulator?: string;
  readonly iface: InterfaceSource;
  readonly metadata: ContainerMetadata;
}

function metadataXml(m: ContainerMetadata): XmlElement {
  const field = (name: keyof ContainerMetadata, value: string | number | undefined) =>
    value !== undefined && el(`${METADATA_PREFIX}:${name}`, {}, String(value));
  return el(
    `${METADATA_PREFIX}:container`,
    { [`xmlns:${METADATA_PREFIX}`]: METADATA_NS },
    field('id', m.id),
    field('kind', m.kind),
    field('ip', m.ip),
    field('diskGiB', m.diskGiB),
    field('image', m.image),
  );
}

function interfaceXml(mac: string, iface: InterfaceSource): XmlElement {
  const source =
    iface.type === 'network'
      ? el('source', { network: iface.network })
      : iface.type === 'bridge'
        ? el('source', { bridge: iface.bridge })
        : undefined;
  return el('interface', { type: iface.type }, el('mac', { address: mac }), source, el('model', { type: 'virtio' }));
}

/** A domain with one qcow2 disk, one NIC with the container's MAC, a serial console and no graphics. */
export function domainXml(d: DomainXmlInput): string {
  const domain = el(
    'domain',
    { type: d.domainType },
    el('name', {}, d.name),
    el('uuid', {}, d.uuid),
    el('metadata', {}, metadataXml(d.metadata)),
    el('memory', { unit: 'MiB' }, String(d.memoryMiB)),
    el('currentMemory', { unit: 'MiB' }, String(d.memoryMiB)),
    el('vcpu', { placement: 'static' }, String(d.cpus)),
    el('os', {}, el('type', { arch: d.arch, machine: d.machine }, 'hvm'), el('boot', { dev: 'hd' })),
    el('features', {}, el('acpi'), el('apic')),
    el('clock', { offset: 'utc' }),
    el('on_poweroff', {}, 'destroy'),
    el('on_reboot', {}, 'restart'),
    el('on_crash', {}, 'destroy'),
    el(
      'devices',
      {},
      d.emulator !== undefined && el('emulator', {}, d.emulator),
      el(
        'disk',
        { type: 'file', device: 'disk' },
        el('driver', { name: 'qemu', type: 'qcow2' }),
        el('source', { file: d.diskPath }),
        el('target', { dev: 'vda', bus: 'virtio' }),
      ),
      interfaceXml(d.mac, d.iface),
      el('serial', { type: 'pty' }, el('target', { port: 0 })),
      el('console', { type: 'pty' }, el('target', { type: 'serial', port: 0 })),
      el('memballoon', { model: 'none' }),
    ),
  );
  return renderXml(domain);
}

/** What vmflow reads back from a domain's XML. */
export interface DomainFacts {
  readonly name?: string;
  readonly uuid?: string;
  readonly cpus: number;
  readonly memoryMiB: number;
  readonly mac?: string;
  /** Source file of the first file-backed disk. */
  readonly diskPath?: string;
  readonly metadata: Partial<ContainerMetadata>;
}

const UNIT_TO_KIB: Record<string, number> = {
  b: 1 / 1024,
  bytes: 1 / 1024,
  k: 1,
  kib: 1,
  kb: 1000 / 1024,
  m: 1024,
  mib: 1024,
  mb: 1e6 / 1024,
  g: 1024 * 1024,
  gib: 1024 * 1024,
  gb: 1e9 / 1024,
  t: 1024 ** 3,
  tib: 1024 ** 3,
};

function domainRoot(xml: string): XmlElement {
  const root = parseXml(xml);
  if (root.tag !== 'domain') throw new Error(`expected a <domain> document, got <${root.tag}>`);
  return root;
}

/** The domain's file-backed disks (not cdroms or floppies), in document order. */
function fileDisks(domain: XmlElement): XmlElement[] {
  return childrenNamed(childNamed(domain, 'devices'), 'disk').filter(
    (d) => d.attrs.type === 'file' && d.attrs.device === 'disk',
  );
}

/** vmflow's element inside `<metadata>`, whatever prefix the document binds to METADATA_NS. */
function containerMetadata(domain: XmlElement): XmlElement | undefined {
  return elementsOf(childNamed(domain, 'metadata')).find((e) => {
    if (localName(e.tag) !== 'container') return false;
    const prefix = e.tag.includes(':') ? e.tag.slice(0, e.tag.indexOf(':')) : undefined;
    return (prefix ? e.attrs[`xmlns:${prefix}`] : e.attrs.xmlns) === METADATA_NS;
  });
}

function metadataFacts(container: XmlElement | undefined): Partial<ContainerMetadata> {
  const field = (name: keyof ContainerMetadata): string | undefined => {
    const found = elementsOf(container).find((c) => localName(c.tag) === name);
    return found && textOf(found);
  };
  const diskGiB = field('diskGiB');
  return {
    id: field('id'),
    kind: field('kind'),
    ip: field('ip'),
    diskGiB: diskGiB === undefined ? undefined : Number(diskGiB),
    image: field('image'),
  };
}

/** A count written as digits; 0 when absent or not a count. */
function count(element: XmlElement | undefined): number {
  const t = textOf(element).trim();
  return /^\d+$/.test(t) ? Number(t) : 0;
}

function memoryMiB(domain: XmlElement): number {
  const memory = childNamed(domain, 'memory');
  const unit = memory?.attrs.unit ?? 'KiB';
  return Math.round((count(memory) * (UNIT_TO_KIB[unit.toLowerCase()] ?? 1)) / 1024);
}

function optionalText(element: XmlElement | undefined): string | undefined {
  return element && textOf(element);
}

export function parseDomainXml(xml: string): DomainFacts {
  const domain = domainRoot(xml);
  const mac = childrenNamed(childNamed(domain, 'devices'), 'interface')
    .map((i) => childNamed(i, 'mac')?.attrs.address)
    .find((a) => a !== undefined);
  return {
    name: optionalText(childNamed(domain, 'name')),
    uuid: optionalText(childNamed(domain, 'uuid')),
    cpus: count(childNamed(domain, 'vcpu')),
    memoryMiB: memoryMiB(domain),
    mac,
    diskPath: childNamed(fileDisks(domain)[0], 'source')?.attrs.file,
    metadata: metadataFacts(containerMetadata(domain)),
  };
}

/** Points the domain's file disk at `to` instead of `from`; throws when no disk uses `from`. */
export function rewriteDiskSource(xml: string, from: string, to: string): string {
  const domain = domainRoot(xml);
  const disk = fileDisks(domain).find((d) => childNamed(d, 'source')?.attrs.file === from);
  if (!disk) throw new Error(`no file disk of the domain uses ${from}`);
  const replace = (node: XmlElement | string): XmlElement | string => {
    if (typeof node === 'string') return node;
    if (node === disk) {
      const source = childNamed(disk, 'source')!;
      return { ...disk, children: disk.children.map((c) => (c === source ? { ...source, attrs: { ...source.attrs, file: to } } : c)) };
    }
    return { ...node, children: node.children.map(replace) };
  };
  return renderXml(replace(domain) as XmlElement);
}
