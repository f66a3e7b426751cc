// The libvirt driver and the pieces other code may reuse (XML builder, settings).
export { LibvirtDriver, hostSettings, poolNameFor, volumeName } from './libvirt-driver';
export type { LibvirtDriverOptions, LibvirtHostSettings } from './libvirt-driver';
export { domainXml, escapeXml, parseDomainXml, rewriteDiskSource, METADATA_NS } from './domain-xml';
export type { ContainerMetadata, DomainFacts, DomainXmlInput, InterfaceSource } from './domain-xml';
