// The entity of one container: its commands run one at a time, in acceptance order.
import { continueAsNew } from '@temporalio/workflow';
import { type CommandRequest, type CommandResult, type ContainerCommand, type TrackedState, describeCommand, isContainerCommand, nextState } from '../src/domain/commands';
import { InvalidInputError } from '../src/domain/errors';
import { SEARCH_ATTRIBUTE_KEYS, workflowIds } from '../src/domain/names';
import * as commands from './container-commands';
import { type EntityInput, type EntitySpec, commonShapeProblems, runEntity } from './entity';

const WORKFLOW_OF: Record<ContainerCommand, (input: any) => Promise<CommandResult>> = {
  create: commands.createContainer,
  start: commands.startContainer,
  stop: commands.stopContainer,
  shutdown: commands.shutdownContainer,
  reboot: commands.rebootContainer,
  suspend: commands.suspendContainer,
  resume: commands.resumeContainer,
  update: commands.updateContainer,
  destroy: commands.destroyContainer,
  clone: commands.cloneContainer,
  migrate: commands.migrateContainer,
  reconcile: commands.reconcileContainer,
  failover: commands.failoverContainer,
};

const containerSpec: EntitySpec<CommandRequest> = {
  checkShape(req, container) {
    const problems = commonShapeProblems(req);
    if (typeof req.command !== 'string' || !isContainerCommand(req.command)) problems.push({ field: 'command', problem: 'is not a container command' });
    if (req.container !== container) problems.push({ field: 'container', problem: `must be ${container}, the container this entity serves` });
    if (problems.length) throw new InvalidInputError(problems, 'command');
  },
  next: (state, req) => nextState(state as TrackedState, req.command, req.container, req.args as never),
  terminal: 'destroyed',
  workflowFor: (req) => WORKFLOW_OF[req.command],
  childId: (req) => workflowIds.containerCommand(req.container, req.command, req.commandId),
  searchAttributes: (req) => [
    { key: SEARCH_ATTRIBUTE_KEYS.container, value: req.container },
    { key: SEARCH_ATTRIBUTE_KEYS.command, value: req.command },
    ...(req.environment ? [{ key: SEARCH_ATTRIBUTE_KEYS.environment, value: req.environment }] : []),
  ],
  describe: describeCommand,
  stateAfter: (result) => (result as CommandResult).state,
  continueAsNew: (input) => continueAsNew<typeof containerEntity>(input),
};

export async function containerEntity(input: EntityInput): Promise<void> {
  return runEntity(containerSpec, input);
}
