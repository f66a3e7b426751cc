// Domain XML: built from a container's definition with a small escaping builder, and read back
// from `virsh dumpxml` as text (no XML parser is installed; libvirt's own output is regular).

/** Namespace of vmflow's `<metadata>` element inside a domain. */
export const METADATA_NS = 'urn:vmflow:container:1';

export function escapeXml(value: string): string {
  return value.replace(/[&<>"']/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&apos;',
  );
}

export function unescapeXml(value: string): string {
  return value.replace(/&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);/g, (_m, e: string) => {
    switch (e) {
      case 'amp':
        return '&';
      case 'lt':
        return '<';
      case 'gt':
        return '>';
      case 'quot':
        return '"';
      case 'apos':
        return "'";
      default:
        return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    }
  });
}

type Attrs = Record<string, string | number | undefined>;
type Child = XmlElement | string | undefined | false;

/** One element; text children are escaped when rendered, attribute values too. */
export interface XmlElement {
  readonly tag: string;
  readonly attrs: Attrs;
  readonly children: readonly Child[];
}

export function el(tag: string, attrs: Attrs = {}, ...children: Child[]): XmlElement {
  return { tag, attrs, children };
}

export function renderXml(node: XmlElement, indent = ''): string {
  const attrs = Object.entries(node.attrs)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}='${escapeXml(String(v))}'`)
    .join('');
  const kids = node.children.filter((c): c is XmlElement | string => c !== undefined && c !== false);
  if (kids.length === 0) return `${indent}<${node.tag}${attrs}/>`;
  if (kids.every((c) => typeof c === 'string')) {
    return `${indent}<${node.tag}${attrs}>${kids.map((c) => escapeXml(c as string)).join('')}</${node.tag}>`;
  }
  const inner = kids
    .map((c) => (typeof c === 'string' ? `${indent}  ${escapeXml(c)}` : renderXml(c, `${indent}  `)))
    .join('\n');
  return `${indent}<${node.tag}${attrs}>\n${inner}\n${indent}</${node.tag}>`;
}

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

/** A domain with one qcow2 disk, one NIC with the container's MAC, a serial console and no graphics. */
export function domainXml(d: DomainXmlInput): string {
  const iface =
    d.iface.type === 'network'
      ? el('source', { network: d.iface.network })
      : d.iface.type === 'bridge'
        ? el('source', { bridge: d.iface.bridge })
        : undefined;
  const m = d.metadata;
  const domain = el(
    'domain',
    { type: d.domainType },
    el('name', {}, d.name),
    el('uuid', {}, d.uuid),
    el(
      'metadata',
      {},
      el(
        'vmflow:container',
        { 'xmlns:vmflow': METADATA_NS },
        el('vmflow:id', {}, m.id),
        el('vmflow:kind', {}, m.kind),
        el('vmflow:ip', {}, m.ip),
        el('vmflow:diskGiB', {}, String(m.diskGiB)),
        m.image !== undefined && el('vmflow:image', {}, m.image),
      ),
    ),
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
      el(
        'interface',
        { type: d.iface.type },
        el('mac', { address: d.mac }),
        iface,
        el('model', { type: 'virtio' }),
      ),
      el('serial', { type: 'pty' }, el('target', { port: 0 })),
      el('console', { type: 'pty' }, el('target', { type: 'serial', port: 0 })),
      el('memballoon', { model: 'none' }),
    ),
  );
  return renderXml(domain) + '\n';
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

function text(xml: string, re: RegExp): string | undefined {
  const m = re.exec(xml);
  return m ? unescapeXml(m[1]!) : undefined;
}

/** The disk blocks of a domain XML, with their offsets, so one can be rewritten in place. */
function diskBlocks(xml: string): { start: number; block: string }[] {
  const out: { start: number; block: string }[] = [];
  const re = /<disk\b[^>]*>[\s\S]*?<\/disk>/g;
  for (let m = re.exec(xml); m; m = re.exec(xml)) {
    if (/\bdevice=(['"])disk\1/.test(m[0]) && /\btype=(['"])file\1/.test(m[0].slice(0, m[0].indexOf('>')))) {
      out.push({ start: m.index, block: m[0] });
    }
  }
  return out;
}

const SOURCE_FILE = /(<source\b[^>]*\bfile=)(['"])(.*?)\2/;

export function parseDomainXml(xml: string): DomainFacts {
  const mem = /<memory\b([^>]*)>(\d+)<\/memory>/.exec(xml);
  const unit = mem ? (/\bunit=['"](\w+)['"]/.exec(mem[1]!)?.[1] ?? 'KiB') : 'KiB';
  const memKiB = mem ? Number(mem[2]) * (UNIT_TO_KIB[unit.toLowerCase()] ?? 1) : 0;
  const disk = diskBlocks(xml)[0];
  const source = disk ? SOURCE_FILE.exec(disk.block) : null;
  const meta = /<(\w+:)?container\b[^>]*>([\s\S]*?)<\/\1?container>/.exec(xml)?.[2] ?? '';
  const field = (name: string) => text(meta, new RegExp(`<(?:\\w+:)?${name}>([^<]*)</(?:\\w+:)?${name}>`));
  const diskGiB = field('diskGiB');
  return {
    name: text(xml, /<name>([^<]*)<\/name>/),
    uuid: text(xml, /<uuid>([^<]*)<\/uuid>/),
    cpus: Number(/<vcpu\b[^>]*>(\d+)<\/vcpu>/.exec(xml)?.[1] ?? 0),
    memoryMiB: Math.round(memKiB / 1024),
    mac: text(xml, /<mac\b[^>]*\baddress=['"]([^'"]*)['"]/),
    diskPath: source ? unescapeXml(source[3]!) : undefined,
    metadata: {
      id: field('id'),
      kind: field('kind'),
      ip: field('ip'),
      diskGiB: diskGiB === undefined ? undefined : Number(diskGiB),
      image: field('image'),
    },
  };
}

/** Points the domain's file disk at `to` instead of `from`; throws when no disk uses `from`. */
export function rewriteDiskSource(xml: string, from: string, to: string): string {
  for (const { start, block } of diskBlocks(xml)) {
    const m = SOURCE_FILE.exec(block);
    if (!m || unescapeXml(m[3]!) !== from) continue;
    const replaced = block.replace(SOURCE_FILE, (_all, head: string, q: string) => `${head}${q}${escapeXml(to)}${q}`);
    return xml.slice(0, start) + replaced + xml.slice(start + block.length);
  }
  throw new Error(`no file disk of the domain uses ${from}`);
}

/**
 * A storage volume. virsh's `vol-create-as` pastes the name into its XML unescaped (a name with `&`
 * fails to parse), so the driver writes the volume XML itself.
 */
export function volumeXml(v: {
  readonly name: string;
  readonly capacityBytes: number;
  readonly format: string;
  readonly backing?: { readonly path: string; readonly format: string };
}): string {
  return (
    renderXml(
      el(
        'volume',
        { type: 'file' },
        el('name', {}, v.name),
        el('capacity', { unit: 'bytes' }, String(v.capacityBytes)),
        el('target', {}, el('format', { type: v.format })),
        v.backing && el('backingStore', {}, el('path', {}, v.backing.path), el('format', { type: v.backing.format })),
      ),
    ) + '\n'
  );
}

/** A `dir` storage pool on a folder of the host. */
export function dirPoolXml(name: string, dir: string): string {
  return renderXml(el('pool', { type: 'dir' }, el('name', {}, name), el('target', {}, el('path', {}, dir)))) + '\n';
}
