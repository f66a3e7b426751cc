// Hypervisors: added through the addHypervisor workflow, drained, undrained and removed in the registry.
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { InvalidInputError, InvalidTransitionError, NotFoundError, unwrapError } from '../domain/errors';
import { SEARCH_ATTRIBUTE_KEYS, TASK_QUEUE, workflowIds } from '../domain/names';
import { META, type HypervisorDefinition, type NodeRecord } from '../domain/types';
import type { Provisioner } from '../provisioner';
import type { HypervisorDefinitionInput } from '../domain/schemas';
import type { Registry } from '../registry/types';
import { checkName } from './names';

export class Hypervisors {
  constructor(
    private readonly temporal: Client,
    private readonly registry: Registry,
    private readonly provisioner: Provisioner,
  ) {}

  /** Adds a host through the addHypervisor workflow: validated, registered, probed. */
  async add(name: string, definition: HypervisorDefinitionInput, tags?: Record<string, string>): Promise<NodeRecord<HypervisorDefinition>> {
    return (await this.startAdd(name, definition, tags)).result();
  }

  /**
   * Starts the addHypervisor workflow and returns at once: `result()` waits for the host to be
   * registered and probed (a probe of a host that does not answer retries for minutes).
   */
  async startAdd(
    name: string,
    definition: HypervisorDefinitionInput,
    tags?: Record<string, string>,
  ): Promise<{ readonly workflowId: string; result(): Promise<NodeRecord<HypervisorDefinition>> }> {
    checkName('name', name);
    const problems = this.provisioner.validate('hypervisor', { name, definition });
    if (problems.length) throw new InvalidInputError(problems, 'hypervisor definition');
    try {
      const handle = await this.temporal.workflow.start('addHypervisor', {
        taskQueue: TASK_QUEUE,
        workflowId: workflowIds.hypervisorCommand(name, 'add', randomUUID()),
        args: [{ name, definition, tags }],
        staticSummary: `add hypervisor ${name} (${definition.driver} at ${definition.address})`,
      });
      return {
        workflowId: handle.workflowId,
        result: () => handle.result().catch((err) => Promise.reject(unwrapError(err))) as Promise<NodeRecord<HypervisorDefinition>>,
      };
    } catch (err) {
      throw unwrapError(err);
    }
  }

  async get(ref: string): Promise<NodeRecord<HypervisorDefinition>> {
    const node = (await this.registry.findByName(ref)) ?? (await this.registry.find(ref).catch(() => undefined));
    if (!node || node.type !== 'hypervisor') throw new NotFoundError('hypervisor', ref);
    return node as NodeRecord<HypervisorDefinition>;
  }

  list(): Promise<NodeRecord[]> {
    return this.registry.list({ type: 'hypervisor' });
  }

  /** Containers and placeholders on a host. */
  async children(ref: string): Promise<NodeRecord[]> {
    return this.registry.children((await this.get(ref)).id);
  }

  usage(ref: string) {
    return this.get(ref).then((h) => this.registry.usage(h.id));
  }

  /**
   * Drains a host: it is cordoned (its state becomes `draining`, which the allocator skips) and,
   * unless `keep` is set, one durable command moves each container away — live when it runs,
   * cold when it is stopped — and can be cancelled. Returns the host and that command.
   */
  async drain(ref: string, reason = 'drained by an operator', options: { keep?: boolean } = {}): Promise<{ host: NodeRecord<HypervisorDefinition>; workflowId?: string }> {
    let host = await this.get(ref);
    if (host.state !== 'draining') host = (await this.registry.update(host.id, undefined, { state: 'draining', metadata: { [META.stateCause]: reason } })) as NodeRecord<HypervisorDefinition>;
    if (options.keep) return { host };
    const workflowId = workflowIds.hypervisorCommand(host.name, 'drain', randomUUID());
    await this.temporal.workflow.start('drainHost', {
      workflowId,
      taskQueue: TASK_QUEUE,
      args: [{ host: host.name, reason }],
      typedSearchAttributes: [
        { key: SEARCH_ATTRIBUTE_KEYS.hypervisor, value: [host.name] },
        { key: SEARCH_ATTRIBUTE_KEYS.command, value: 'drain' },
      ],
      staticSummary: `drain ${host.name}: move every container away (${reason})`,
    });
    return { host, workflowId };
  }

  /**
   * Rebuilds what a host that is down held on other hosts, as the monitor's failover does when it
   * declares a host down: the host is fenced first. Refused while the host is up.
   */
  async evacuate(ref: string): Promise<{ workflowId: string }> {
    const host = await this.get(ref);
    if (host.state !== 'down') throw new InvalidTransitionError('evacuate', host.name, host.state, `it is ${host.state}; drain a host that is up`);
    const workflowId = workflowIds.hypervisorCommand(host.name, 'failover', randomUUID());
    await this.temporal.workflow.start('failoverHost', {
      workflowId,
      taskQueue: TASK_QUEUE,
      args: [{ host: host.name, cause: 'evacuated by an operator' }],
      typedSearchAttributes: [
        { key: SEARCH_ATTRIBUTE_KEYS.hypervisor, value: [host.name] },
        { key: SEARCH_ATTRIBUTE_KEYS.command, value: 'failover' },
      ],
      staticSummary: `fail over the containers of ${host.name}`,
    });
    return { workflowId };
  }

  /** Takes a draining host back into placement. A host that is down stays down until it answers. */
  async undrain(ref: string): Promise<NodeRecord<HypervisorDefinition>> {
    const host = await this.get(ref);
    if (host.state === 'up') return host;
    if (host.state !== 'draining') throw new InvalidTransitionError('undrain', host.name, host.state, `it is ${host.state}, not draining; the monitor marks it up when it answers`);
    return (await this.registry.update(host.id, undefined, { state: 'up', metadata: { [META.stateCause]: null } })) as NodeRecord<HypervisorDefinition>;
  }

  /** Deprovisions a host: removes it and its keys from the registry. Refused while anything is on it. */
  async remove(ref: string): Promise<void> {
    const host = await this.get(ref);
    const children = await this.registry.children(host.id);
    if (children.length) {
      const containers = children.filter((c) => c.type === 'container').length;
      throw new InvalidTransitionError(
        'remove',
        host.name,
        host.state,
        `it still has ${containers} container(s) and ${children.length - containers} placeholder(s); drain it and migrate or destroy them first`,
      );
    }
    await this.provisioner.deprovision(host.id);
  }
}
