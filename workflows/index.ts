// Every workflow type the worker registers. Workflow code only: no Node built-ins, no I/O.
export * from './container-commands';
export { containerEntity } from './container-entity';
export { environmentCommand, environmentEntity } from './environments';
export * from './hypervisors';
export { collectorCycle, collectorLoop, monitorCycle, monitorLoop } from './monitor';
export { failoverHost } from './failover';
export { drainHost } from './maintenance';
export { readContainerFiles } from './container-files';
