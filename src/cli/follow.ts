// `--wait`: follows a command to its end with a live display of its steps (a redrawn line on a
// terminal, one line per step elsewhere) and prints where it is in the Temporal Web UI.
import type { CommandHandle } from '../client';
import type { CommandProgress } from '../domain/commands';

export function webUiLink(webUiUrl: string, namespace: string, workflowId: string): string {
  return `${webUiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

export interface FollowOptions {
  readonly webUiUrl: string;
  readonly namespace: string;
  /** Prints nothing while following (for -o json). */
  readonly quiet?: boolean;
  readonly intervalMs?: number;
  readonly out?: NodeJS.WriteStream;
}

/** Prints that a command was accepted, with its Web UI link. */
export function printAccepted(handle: CommandHandle<unknown>, options: FollowOptions): void {
  const out = options.out ?? process.stdout;
  out.write(`${handle.kind} ${handle.target}: ${handle.command} accepted\n  command   ${handle.commandId}\n  workflow  ${handle.workflowId}\n  Web UI    ${webUiLink(options.webUiUrl, options.namespace, handle.workflowId)}\n`);
}

/** Waits for the command's result, showing its steps as they complete; throws its error. */
export async function follow<R>(handle: CommandHandle<R>, options: FollowOptions): Promise<R> {
  const out = options.out ?? process.stdout;
  const live = !options.quiet && !!out.isTTY;
  const spinner = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let shown = 0;
  let lastLine = '';
  let tick = 0;
  const write = (s: string) => {
    if (!options.quiet) out.write(s);
  };
  const clear = () => {
    if (live && lastLine) out.write('\r\x1b[2K');
  };
  const outcome = handle.result().then(
    (value) => ({ ok: true as const, value }),
    (error: Error) => ({ ok: false as const, error }),
  );
  for (;;) {
    const settled = await Promise.race([outcome, new Promise<undefined>((r) => setTimeout(() => r(undefined), options.intervalMs ?? 300))]);
    if (settled) {
      clear();
      const steps = settled.ok ? ((settled.value as { steps?: string[] } | undefined)?.steps ?? []) : [];
      for (const s of steps.slice(shown)) write(`  ✔ ${s}\n`);
      if (!settled.ok) {
        write(`  ✘ ${settled.error.message}\n`);
        throw settled.error;
      }
      return settled.value;
    }
    let p: (CommandProgress & { status: string }) | undefined;
    try {
      p = await handle.progress();
    } catch {
      continue;
    }
    if (p.stepsDone.length > shown) {
      clear();
      for (const s of p.stepsDone.slice(shown)) write(`  ✔ ${s}\n`);
      shown = p.stepsDone.length;
      lastLine = '';
    }
    const pct = p.fraction !== undefined ? ` ${Math.round(p.fraction * 100)}%` : '';
    const line = p.phase === 'queued' ? `waiting for its turn${p.ahead ? ` (${p.ahead} ahead)` : ''}` : `${p.phase === 'compensating' ? 'undoing: ' : ''}${p.step}${pct}`;
    if (live) {
      out.write(`\r\x1b[2K  ${spinner[tick++ % spinner.length]} ${line}`);
      lastLine = line;
    } else if (line !== lastLine) {
      write(`  … ${line}\n`);
      lastLine = line;
    }
  }
}
