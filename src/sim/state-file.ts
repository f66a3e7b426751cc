// The farm's state on disk: one JSON file, replaced atomically (write a temp file, rename it).
// Saves are group-committed: every save() resolves once a write that started after the call has
// landed, so an answer sent after awaiting save() is never lost, and a burst of changes costs one
// write rather than one each.
import { existsSync, readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';

interface Batch {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

function batch(): Batch {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export class StateFile {
  private pending: Batch | undefined;
  private writing = false;
  private written = 0;

  constructor(
    readonly path: string,
    /** The state to write: JSON text as it is, anything else stringified. */
    private readonly snapshot: () => unknown,
  ) {}

  /** How many times the file has been written. */
  get writes(): number {
    return this.written;
  }

  /** The saved state, or undefined when there is none yet. */
  load(): unknown {
    if (!existsSync(this.path)) return undefined;
    const text = readFileSync(this.path, 'utf8');
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new Error(`sim state file ${this.path} is not valid JSON (${(err as Error).message}); move it away to start empty`);
    }
  }

  /** Resolves when the state as it is now (or later) is on disk. */
  save(): Promise<void> {
    if (!this.pending) {
      this.pending = batch();
      if (!this.writing) setImmediate(() => void this.drain());
    }
    return this.pending.promise;
  }

  private async drain(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.pending) {
        const current = this.pending;
        this.pending = undefined;
        try {
          const state = this.snapshot();
          const text = typeof state === 'string' ? state : JSON.stringify(state);
          const tmp = `${this.path}.tmp`;
          await writeFile(tmp, text);
          await rename(tmp, this.path);
          this.written++;
          current.resolve();
        } catch (err) {
          current.reject(err);
        }
      }
    } finally {
      this.writing = false;
    }
  }
}
