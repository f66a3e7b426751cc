// `--wait`: follows a command through the API to its end, with a live display of its steps (a
// redrawn line on a terminal, one line per step elsewhere), and prints where it is in the
// Temporal Web UI.
import { ApiError, commandPath, type ApiClient } from './api-client';
import { kindOf, type Accepted, type CommandResource } from './resources';

export interface FollowOptions {
  /** Prints nothing while following (for -o json). */
  readonly quiet?: boolean;
  readonly intervalMs?: number;
  readonly out?: NodeJS.WriteStream;
}

/** Prints that a command was accepted, with its Web UI link. */
export function printAccepted(accepted: Accepted, out: NodeJS.WriteStream = process.stdout): void {
  out.write(`${kindOf(accepted.workflowId)} ${accepted.target}: ${accepted.command} accepted\n  command   ${accepted.commandId}\n  workflow  ${accepted.workflowId}\n  Web UI    ${accepted.webUi}\n`);
}

/** The error a command ended with, as the API reported it. */
export function commandError(c: CommandResource): ApiError {
  return new ApiError(c.error?.code ?? 'INTERNAL', c.error?.message ?? `${c.workflowId} ended ${c.status.toLowerCase()}`, 0);
}

/**
 * Polls the command until it has ended, showing its steps as they complete; returns the ended
 * command. `throwOnFailure` (the default) throws its error when it did not complete.
 */
export async function follow(api: ApiClient, workflowId: string, options: FollowOptions = {}, throwOnFailure = true): Promise<CommandResource> {
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
  for (;;) {
    const c = await api.get<CommandResource>(commandPath(workflowId));
    if (c.status !== 'RUNNING') {
      clear();
      const steps: string[] = c.status === 'COMPLETED' ? (c.result?.steps ?? []) : [];
      for (const s of steps.slice(shown)) write(`  ✔ ${s}\n`);
      if (c.status !== 'COMPLETED') {
        const err = commandError(c);
        write(`  ✘ ${err.message}\n`);
        if (throwOnFailure) throw err;
      }
      return c;
    }
    const p = c.progress;
    if (p) {
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
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 300));
  }
}
