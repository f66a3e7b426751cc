// `--watch` on lists: the list is drawn again every `--interval` seconds until Ctrl-C (on a
// terminal the screen is redrawn; elsewhere each drawing follows the last under a time line).
import type { Command } from 'commander';
import { flag } from './output';

export interface WatchOptions {
  readonly watch?: boolean;
  readonly interval?: number;
}

/** Adds `--watch` and `--interval <seconds>`. */
export function withWatch(cmd: Command): Command {
  return cmd.option('--watch', 'draw it again every --interval seconds until interrupted (Ctrl-C)').option('--interval <seconds>', 'seconds between drawings with --watch', flag.positive('--interval'), 2);
}

/**
 * Runs `render` once, or with --watch until SIGINT or SIGTERM. While watching, a drawing that
 * fails (the API restarting) prints its message and the next drawing tries again.
 */
export async function watching(o: WatchOptions, render: () => Promise<void>, out: NodeJS.WriteStream = process.stdout): Promise<void> {
  if (!o.watch) return render();
  let stopped = false;
  let wake: () => void = () => undefined;
  const stop = () => {
    stopped = true;
    wake();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    while (!stopped) {
      if (out.isTTY) out.write('\x1b[H\x1b[2J');
      out.write(`${out.isTTY ? '' : '\n'}every ${o.interval ?? 2}s: ${new Date().toISOString()}\n\n`);
      try {
        await render();
      } catch (err) {
        process.stderr.write(`vmflow: ${err instanceof Error ? err.message : String(err)}\n`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, (o.interval ?? 2) * 1000);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
