// `vmflow containers|environments|hypervisors events <name>`: a node's event history, newest
// first — state changes with their cause (a command, drift seen by the monitor, failover, the
// collector) and, for an environment, its hook calls.
import type { Command } from 'commander';
import { seg } from './api-client';
import { withApi } from './context';
import { age, flag, isStructured, printData, printTable, withOutput, type OutputOptions } from './output';
import type { List } from './resources';
import { watching, withWatch, type WatchOptions } from './watch';

export interface EventResource {
  readonly id: number;
  readonly at: string;
  readonly what: string;
  readonly why: string;
  readonly by: string;
  readonly commandId: string | null;
  readonly data: Record<string, unknown>;
}

/** Adds `events <ref>` to `parent`, reading `/v1/<path>/<ref>/events`. */
export function addEvents(parent: Command, path: 'containers' | 'environments' | 'hypervisors', noun: string): void {
  const cmd = withOutput(parent.command(`events <${noun}>`).description(`the ${noun}'s event history, newest first: what changed, why, by whom`).option('--limit <n>', 'at most this many', flag.integer('--limit', 1), 50));
  withWatch(cmd).action(async (ref: string, o: OutputOptions & WatchOptions & { limit: number }) =>
    watching(o, () =>
      withApi(async (api) => {
        const { items } = await api.get<List<EventResource>>(`/v1/${path}/${seg(ref)}/events`, { limit: Math.min(o.limit, 1000) });
        if (isStructured(o)) return printData(o, items);
        const wide = o.output === 'wide';
        printTable(
          ['AGE', 'WHAT', 'WHY', 'BY', ...(wide ? ['AT', 'COMMAND'] : [])],
          items.map((e) => [age(e.at), e.what, e.why, e.by, ...(wide ? [e.at, e.commandId] : [])]),
        );
      }),
    ),
  );
}
