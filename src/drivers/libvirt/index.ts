// The libvirt driver and the pieces other code may reuse (XML builder, settings).
export { LibvirtDriver } from './libvirt-driver';
export { hostSettings, poolNameFor, volumeName } from './settings';
export type { LibvirtDriverOptions, LibvirtHostSettings } from './settings';
export { domainXml, escapeXml, parseDomainXml, rewriteDiskSource, METADATA_NS } from './domain-xml';
export type { ContainerMetadata, DomainFacts, DomainXmlInput, InterfaceSource } from './domain-xml';
