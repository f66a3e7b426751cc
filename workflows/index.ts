// Every workflow type the worker registers. Workflow code only: no Node built-ins, no I/O.
export * from './container-commands';
export * from './container-entity';
export * from './hypervisors';
