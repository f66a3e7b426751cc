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
  const lines = new StepLines();
  let tick = 0;
  let drawn = false;
  const write = (s: string) => {
    if (!options.quiet) out.write(s);
  };
  const clear = () => {
    if (drawn) out.write('\r\x1b[2K');
    drawn = false;
  };
  for (;;) {
    const c = await api.get<CommandResource>(commandPath(workflowId));
    if (c.status !== 'RUNNING') {
      clear();
      const done = c.status === 'COMPLETED' ? (c.result?.steps ?? []) : (c.progress?.stepsDone ?? []);
      for (const l of lines.completed(done)) write(l);
      if (c.status !== 'COMPLETED') {
        const err = commandError(c);
        write(`  ✘ ${err.message}\n`);
        if (throwOnFailure) throw err;
      }
      return c;
    }
    const p = c.progress;
    if (p) {
      const finished = lines.completed(p.stepsDone);
      if (finished.length) clear();
      for (const l of finished) write(l);
      const current = lines.current(p);
      if (live && current) {
        out.write(`\r\x1b[2K  ${spinner[tick++ % spinner.length]} ${current}`);
        drawn = true;
      } else if (!live && current && lines.announce(current)) write(`  … ${current}\n`);
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 300));
  }
}

/**
 * Which lines a followed command has printed. Each completed step is printed once, in order; the
 * step under way is announced at most once (on a terminal it is redrawn instead) and never after
 * it completed — the progress query may still name a step a moment after it is done, and a
 * command that has finished its last step reports no step under way.
 */
export class StepLines {
  private shown = 0;
  private readonly done = new Set<string>();
  private readonly announced = new Set<string>();

  /** The ✔ lines for steps completed since the last call. */
  completed(stepsDone: readonly string[]): string[] {
    const fresh = stepsDone.slice(this.shown);
    this.shown = Math.max(this.shown, stepsDone.length);
    for (const s of fresh) this.done.add(s);
    return fresh.map((s) => `  ✔ ${s}\n`);
  }

  /** The step under way, as a line; undefined when there is none to show. */
  current(p: NonNullable<CommandResource['progress']>): string | undefined {
    if (p.phase === 'queued') return `waiting for its turn${p.ahead ? ` (${p.ahead} ahead)` : ''}`;
    if (p.phase !== 'running' && p.phase !== 'compensating') return undefined;
    if (!p.step || p.step === 'done' || (p.phase === 'running' && this.done.has(p.step.split(' — ')[0]!))) return undefined;
    const pct = p.fraction !== undefined ? ` ${Math.round(p.fraction * 100)}%` : '';
    return `${p.phase === 'compensating' ? 'undoing: ' : ''}${p.step}${pct}`;
  }

  /** True the first time a line is announced (percentages aside). */
  announce(line: string): boolean {
    const key = line.replace(/ \d+%$/, '');
    if (this.announced.has(key)) return false;
    this.announced.add(key);
    return true;
  }
}
