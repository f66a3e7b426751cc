// What vmflow needs of a Temporal cluster: its namespace, kept for a retention the operator
// chooses, and vmflow's search attributes on it (the workflows set them; the Web UI and the API
// filter on them). `vmflow temporal setup` makes it so and may run any number of times; a worker
// checks it once at start and refuses to run without it.
import { isGrpcServiceError, type Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTE_TYPES } from '../domain/names';
import { formatRetention } from './retention';

const { IndexedValueType } = temporal.api.enums.v1;
type AttributeType = (typeof SEARCH_ATTRIBUTE_TYPES)[string];

const INDEXED: Record<AttributeType, temporal.api.enums.v1.IndexedValueType> = {
  Keyword: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  KeywordList: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

const GRPC_NOT_FOUND = 5;
const GRPC_ALREADY_EXISTS = 6;
/** A new namespace or attribute reaches every frontend on its next cache refresh (10 s by default). */
const PROPAGATION_TIMEOUT_MS = 90_000;

/** How vmflow's namespace and search attributes stand on a cluster. */
export interface ClusterState {
  readonly namespace: string;
  readonly namespaceExists: boolean;
  readonly retentionSeconds?: number;
  /** Attributes vmflow needs that the namespace lacks, with the type they need. */
  readonly missing: ReadonlyArray<{ readonly name: string; readonly type: AttributeType }>;
  /** Attributes that exist with another type than vmflow's. */
  readonly mistyped: ReadonlyArray<{ readonly name: string; readonly type: AttributeType; readonly has: string }>;
}

/** Thrown when a worker starts on a cluster `vmflow temporal setup` has not prepared. */
export class ClusterNotReadyError extends Error {
  override readonly name = 'ClusterNotReadyError';
  constructor(
    readonly address: string,
    readonly state: ClusterState,
  ) {
    super(notReadyMessage(address, state));
  }
}

function typeName(t: temporal.api.enums.v1.IndexedValueType | null | undefined): string {
  return IndexedValueType[t ?? 0]?.replace('INDEXED_VALUE_TYPE_', '').toLowerCase() ?? String(t);
}

function setupCommand(address: string, namespace: string): string {
  return `vmflow temporal setup --address ${address} --namespace ${namespace} --retention 7d`;
}

function notReadyMessage(address: string, s: ClusterState): string {
  const run = `run \`${setupCommand(address, s.namespace)}\` once (the retention is yours to choose), then start the worker again`;
  if (!s.namespaceExists) return `the Temporal namespace "${s.namespace}" does not exist on ${address}: ${run}`;
  const problems = [
    ...(s.missing.length ? [`lacks vmflow's search attributes ${s.missing.map((a) => `${a.name} (${a.type})`).join(', ')}`] : []),
    ...s.mistyped.map((a) => `has ${a.name} as ${a.has} where vmflow needs ${a.type}`),
  ];
  return `the Temporal namespace "${s.namespace}" on ${address} ${problems.join(' and ')}: ${run}`;
}

/** Reads the namespace and its custom search attributes; changes nothing. */
export async function inspectCluster(connection: Connection, namespace: string): Promise<ClusterState> {
  let retentionSeconds: number | undefined;
  let have: Record<string, temporal.api.enums.v1.IndexedValueType>;
  try {
    const ns = await connection.workflowService.describeNamespace({ namespace });
    const ttl = ns.config?.workflowExecutionRetentionTtl;
    if (ttl?.seconds != null) retentionSeconds = Number(ttl.seconds);
    have = (await connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
  } catch (err) {
    // A namespace created a moment ago is not found by every service until their caches refresh.
    if (isGrpcServiceError(err) && err.code === GRPC_NOT_FOUND) return { namespace, namespaceExists: false, missing: attributesNeeded(), mistyped: [] };
    throw err;
  }
  const missing: Array<ClusterState['missing'][number]> = [];
  const mistyped: Array<ClusterState['mistyped'][number]> = [];
  for (const { name, type } of attributesNeeded()) {
    if (!(name in have)) missing.push({ name, type });
    else if (have[name] !== INDEXED[type]) mistyped.push({ name, type, has: typeName(have[name]) });
  }
  return { namespace, namespaceExists: true, retentionSeconds, missing, mistyped };
}

function attributesNeeded(): Array<{ name: string; type: AttributeType }> {
  return Object.entries(SEARCH_ATTRIBUTE_TYPES).map(([name, type]) => ({ name, type }));
}

/** Throws ClusterNotReadyError, naming what is missing and the command that adds it. */
export async function assertClusterReady(connection: Connection, options: { readonly temporalAddress: string; readonly namespace: string }): Promise<void> {
  const state = await inspectCluster(connection, options.namespace);
  if (!state.namespaceExists || state.missing.length || state.mistyped.length) throw new ClusterNotReadyError(options.temporalAddress, state);
}

export interface SetupOptions {
  readonly namespace: string;
  /** Retention of closed workflows: for a new namespace (7 days when not given), and applied to an existing one only when given. */
  readonly retentionSeconds?: number;
  readonly log?: (line: string) => void;
}

export interface SetupReport {
  readonly namespace: string;
  readonly created: boolean;
  readonly retentionSeconds: number | undefined;
  readonly retentionChanged: boolean;
  readonly added: readonly string[];
  readonly present: readonly string[];
}

/** The default retention when `temporal setup` creates a namespace and none is given. */
export const DEFAULT_RETENTION_SECONDS = 7 * 24 * 3600;

/**
 * Creates the namespace (with the retention) when it is missing, applies a changed retention,
 * adds the search attributes it lacks, and waits until the frontend accepts queries on them.
 * Refuses an attribute that exists with another type: changing it would orphan what is indexed.
 */
export async function setupCluster(connection: Connection, options: SetupOptions): Promise<SetupReport> {
  const log = options.log ?? (() => undefined);
  const { namespace } = options;
  let state = await inspectCluster(connection, namespace);
  let created = false;
  let retentionChanged = false;
  if (!state.namespaceExists) {
    const retentionSeconds = options.retentionSeconds ?? DEFAULT_RETENTION_SECONDS;
    try {
      await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(retentionSeconds * 1000) });
      created = true;
      log(`namespace ${namespace}: created, retention ${formatRetention(retentionSeconds)}`);
    } catch (err) {
      // Another setup created it between the look and the create.
      if (!(isGrpcServiceError(err) && err.code === GRPC_ALREADY_EXISTS)) throw err;
    }
    state = await until(() => inspectCluster(connection, namespace), (s) => s.namespaceExists, `namespace ${namespace} to be usable`);
  } else if (options.retentionSeconds !== undefined && options.retentionSeconds !== state.retentionSeconds) {
    await connection.workflowService.updateNamespace({ namespace, config: { workflowExecutionRetentionTtl: msToTs(options.retentionSeconds * 1000) } });
    retentionChanged = true;
    log(`namespace ${namespace}: retention ${formatRetention(state.retentionSeconds)} -> ${formatRetention(options.retentionSeconds)}`);
  } else {
    log(`namespace ${namespace}: exists, retention ${formatRetention(state.retentionSeconds)}`);
  }

  if (state.mistyped.length) {
    const clashes = state.mistyped.map((a) => `has ${a.name} as ${a.has} where vmflow needs ${a.type}`).join(' and ');
    throw new Error(`the Temporal namespace "${namespace}" ${clashes}: a search attribute cannot change type; remove it (temporal operator search-attribute remove) and run setup again`);
  }
  const added = state.missing.map((a) => a.name);
  if (state.missing.length) {
    const searchAttributes = Object.fromEntries(state.missing.map((a) => [a.name, INDEXED[a.type]]));
    // A namespace created a moment ago may not have reached the frontend that takes this call.
    await until(
      () =>
        connection.operatorService.addSearchAttributes({ namespace, searchAttributes }).then(
          () => true,
          (err) => {
            if (isGrpcServiceError(err) && err.code === GRPC_NOT_FOUND) return false;
            if (isGrpcServiceError(err) && err.code === GRPC_ALREADY_EXISTS) return true;
            throw err;
          },
        ),
      (ok) => ok,
      `search attributes on ${namespace}`,
    );
    for (const a of state.missing) log(`search attribute ${a.name} (${a.type}): added`);
  }
  const present = Object.keys(SEARCH_ATTRIBUTE_TYPES).filter((n) => !added.includes(n));
  for (const name of present) log(`search attribute ${name} (${SEARCH_ATTRIBUTE_TYPES[name]}): present`);

  // Done when a query naming every attribute is accepted: that is what workers and the API do.
  const query = Object.keys(SEARCH_ATTRIBUTE_TYPES)
    .map((n) => `${n} = 'vmflow-setup'`)
    .join(' OR ');
  await until(
    () =>
      connection.workflowService.countWorkflowExecutions({ namespace, query }).then(
        () => true,
        () => false,
      ),
    (ok) => ok,
    `the frontend to accept queries on vmflow's search attributes in ${namespace}`,
  );
  return { namespace, created, retentionSeconds: options.retentionSeconds ?? state.retentionSeconds ?? DEFAULT_RETENTION_SECONDS, retentionChanged, added, present };
}

async function until<T>(attempt: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + PROPAGATION_TIMEOUT_MS;
  for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
    const value = await attempt();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${PROPAGATION_TIMEOUT_MS / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, delay));
  }
}
