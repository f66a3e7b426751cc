// Storage pool and volume XML. virsh's `vol-create-as` and `vol-clone` paste names into their XML
// unescaped (a name with `&` fails to parse), so the driver writes volume XML itself.
import { childNamed, el, parseXml, renderXml, textOf } from './xml';

export interface VolumeXmlInput {
  readonly name: string;
  readonly capacityBytes: number;
  readonly format: string;
  readonly backing?: { readonly path: string; readonly format: string };
}

/** A storage volume, optionally over a backing file. */
export function volumeXml(v: VolumeXmlInput): string {
  return renderXml(
    el(
      'volume',
      { type: 'file' },
      el('name', {}, v.name),
      el('capacity', { unit: 'bytes' }, String(v.capacityBytes)),
      el('target', {}, el('format', { type: v.format })),
      v.backing && el('backingStore', {}, el('path', {}, v.backing.path), el('format', { type: v.backing.format })),
    ),
  );
}

/** A `dir` storage pool on a folder of the host. */
export function dirPoolXml(name: string, dir: string): string {
  return renderXml(el('pool', { type: 'dir' }, el('name', {}, name), el('target', {}, el('path', {}, dir))));
}

/** What provisioning reads from `virsh vol-dumpxml` of a base image. */
export interface VolumeFacts {
  /** The image's own format (`qcow2`, `raw`, ...); qcow2 when libvirt does not say. */
  readonly format: string;
  readonly capacityBytes: number;
}

export function parseVolumeXml(xml: string): VolumeFacts {
  const volume = parseXml(xml);
  if (volume.tag !== 'volume') throw new Error(`expected a <volume> document, got <${volume.tag}>`);
  const capacity = textOf(childNamed(volume, 'capacity')).trim();
  return {
    format: childNamed(childNamed(volume, 'target'), 'format')?.attrs.type || 'qcow2',
    capacityBytes: /^\d+$/.test(capacity) ? Number(capacity) : 0,
  };
}
