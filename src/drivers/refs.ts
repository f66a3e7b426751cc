// A host and a container as the driver interface takes them, made from their registry nodes.
import { InvalidInputError } from '../domain/errors';
import type { ContainerDefinition, HypervisorDefinition, NodeRecord } from '../domain/types';
import type { ContainerSpec, HostRef } from './driver';

/** The host a driver call targets; refuses a node that is not a hypervisor. */
export function hostRef(node: NodeRecord): HostRef {
  if (node.type !== 'hypervisor') throw new InvalidInputError([{ field: 'host', problem: `${node.name} is a ${node.type}, not a hypervisor` }]);
  return { id: node.id, name: node.name, definition: node.definition as HypervisorDefinition };
}

/** What a driver needs to build a container. */
export function specOf(node: NodeRecord<ContainerDefinition>): ContainerSpec {
  return { id: node.id, name: node.name, definition: node.definition };
}
