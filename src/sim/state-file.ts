// The farm's state on disk, in its state folder:
//   sim-state.json       a snapshot of the whole farm, replaced atomically (temp file + rename); it
//                        names the last journal record it includes (`journalSeq`);
//   sim-journal.jsonl    one line per save since: the farm-level part (delays, failure rules) and the
//                        whole saved state of each host the save changed (null for a removed host).
// A save appends one line, so it costs what the hosts it touched cost, not what the farm costs;
// a save touching two hosts (a migration) is one line, so a restart sees both changes or neither.
// A line cut short by a kill is the last one and was never acknowledged: loading drops it.
// When the journal outgrows the snapshot, a new snapshot is written in the background: the journal
// is first renamed sim-journal.old.jsonl and appends go on in a new one; the old one is removed once
// the snapshot has landed, and loading replays whichever journals it finds past the snapshot's seq.
// A snapshot without its journalSeq (the single state file of earlier versions) is read as seq 0.
//
// Saves are group-committed: every save() resolves once a write that started after the call has
// landed, so an answer sent after awaiting save() is never lost, and a burst of changes costs one
// append rather than one each.
import { existsSync, readFileSync } from 'node:fs';
import { open, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

export const SNAPSHOT_FILE = 'sim-state.json';
export const JOURNAL_FILE = 'sim-journal.jsonl';
export const OLD_JOURNAL_FILE = 'sim-journal.old.jsonl';

/** What the store reads from the farm, as JSON text. */
export interface StateSource {
  /** The whole state: a JSON object (`journalSeq` is added to it). */
  snapshot(): string;
  /** The farm-level part: a JSON object of the fields besides `hosts`. */
  farm(): string;
  /** One host's saved state, or undefined when the farm no longer has it. */
  host(id: string): string | undefined;
}

/** One journal line: the farm-level fields, and each changed host's saved state (null: removed). */
export interface JournalRecord {
  seq: number;
  farm: Record<string, unknown>;
  hosts: Record<string, unknown>;
}

/** What a state folder holds: the snapshot and the journal records past it, in order. */
export interface LoadedState {
  snapshot: Record<string, unknown>;
  records: JournalRecord[];
}

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

function parse(text: string, where: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new Error(`sim state: ${where} is not valid JSON (${(err as Error).message}); move the state folder away to start empty`);
  }
}

/** A journal's complete records; a last line without its newline was cut short by a kill and is dropped. */
function journalRecords(file: string): JournalRecord[] {
  if (!existsSync(file)) return [];
  const lines = readFileSync(file, 'utf8').split('\n');
  lines.pop();
  return lines.map((line, i) => {
    const record = parse(line, `${file} line ${i + 1}`) as Partial<JournalRecord> | null;
    if (!record || typeof record.seq !== 'number' || typeof record.farm !== 'object' || typeof record.hosts !== 'object') {
      throw new Error(`sim state: ${file} line ${i + 1} is not a journal record; move the state folder away to start empty`);
    }
    return record as JournalRecord;
  });
}

export interface StateStoreOptions {
  /** The journal is compacted once it is larger than this and than the snapshot. */
  readonly compactBytes?: number;
}

export class StateStore {
  private source: StateSource | undefined;
  private pending: Batch | undefined;
  private writing = false;
  /** The drain under way or scheduled, so close() can wait for it. */
  private draining: Promise<void> | undefined;
  private written = 0;
  /** Hosts changed since the last write was taken; `all` when any may have. */
  private dirty = new Set<string>();
  private all = false;
  private seq = 0;
  private journal: FileHandle | undefined;
  private journalBytes = 0;
  private snapshotBytes = 0;
  private compacting: Promise<void> | undefined;
  /** A failed write leaves the files in a state later appends must not build on. */
  private failure: Error | undefined;
  private readonly compactBytes: number;

  constructor(
    readonly dir: string,
    options: StateStoreOptions = {},
  ) {
    this.compactBytes = options.compactBytes ?? 4 * 1024 * 1024;
  }

  /** How many writes (journal appends and snapshots) have landed. */
  get writes(): number {
    return this.written;
  }

  /** The saved state, or undefined when the folder has none yet. */
  load(): LoadedState | undefined {
    const snapshotFile = path.join(this.dir, SNAPSHOT_FILE);
    const journals = [OLD_JOURNAL_FILE, JOURNAL_FILE].map((f) => path.join(this.dir, f));
    if (!existsSync(snapshotFile)) {
      const orphan = journals.find(existsSync);
      if (orphan) throw new Error(`sim state: ${orphan} has no ${SNAPSHOT_FILE} beside it; move the state folder away to start empty`);
      return undefined;
    }
    const snapshot = parse(readFileSync(snapshotFile, 'utf8'), snapshotFile) as Record<string, unknown>;
    let seq = typeof snapshot.journalSeq === 'number' ? snapshot.journalSeq : 0;
    const records: JournalRecord[] = [];
    for (const file of journals) {
      for (const record of journalRecords(file)) {
        if (record.seq <= seq) continue;
        if (record.seq !== seq + 1) throw new Error(`sim state: ${file} skips from record ${seq} to ${record.seq}; move the state folder away to start empty`);
        records.push(record);
        seq = record.seq;
      }
    }
    this.seq = seq;
    return { snapshot, records };
  }

  /**
   * Starts saving `source`: writes a snapshot of it now, and removes the journals it includes.
   * Called once, after load() and before any save().
   */
  async open(source: StateSource): Promise<void> {
    this.source = source;
    await this.writeSnapshot(source.snapshot());
    await rm(path.join(this.dir, OLD_JOURNAL_FILE), { force: true });
    this.journal = await open(path.join(this.dir, JOURNAL_FILE), 'a');
    await this.journal.truncate(0);
    this.journalBytes = 0;
  }

  /**
   * Resolves when the state as it is now (or later) is on disk. `hostIds` names the only hosts
   * changed since the last save (`[]`: only the farm-level part); without it, any may have.
   */
  save(hostIds?: readonly string[]): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (hostIds) for (const id of hostIds) this.dirty.add(id);
    else this.all = true;
    if (!this.pending) {
      this.pending = batch();
      if (!this.writing) this.draining = new Promise((resolve) => setImmediate(() => resolve(this.drain())));
    }
    return this.pending.promise;
  }

  /** Waits for writes under way, a compaction included, and closes the journal. */
  async close(): Promise<void> {
    await this.draining;
    await this.compacting;
    await this.journal?.close();
    this.journal = undefined;
  }

  private async drain(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.pending) {
        const current = this.pending;
        this.pending = undefined;
        try {
          if (this.failure) throw this.failure;
          if (this.all) await this.rewrite();
          else await this.append();
          this.written++;
          current.resolve();
          if (!this.compacting && this.journalBytes > Math.max(this.compactBytes, this.snapshotBytes)) await this.compact();
        } catch (err) {
          this.failure ??= err as Error;
          current.reject(err);
        }
      }
    } finally {
      this.writing = false;
    }
  }

  private async append(): Promise<void> {
    const source = this.source!;
    const hosts: string[] = [];
    for (const id of this.dirty) hosts.push(`${JSON.stringify(id)}:${source.host(id) ?? 'null'}`);
    this.dirty.clear();
    const line = `{"seq":${this.seq + 1},"farm":${source.farm()},"hosts":{${hosts.join(',')}}}\n`;
    await this.journal!.appendFile(line);
    this.seq++;
    this.journalBytes += Buffer.byteLength(line);
  }

  /** A save where any host may have changed: a new snapshot, then an empty journal. */
  private async rewrite(): Promise<void> {
    await this.compacting;
    if (this.failure) throw this.failure;
    this.all = false;
    this.dirty.clear();
    await this.writeSnapshot(this.source!.snapshot());
    await this.journal!.truncate(0);
    this.journalBytes = 0;
  }

  /**
   * Takes a snapshot of the state as it is now and starts a new journal; the snapshot is written
   * while appends go on in the new journal, then the old journal is removed.
   */
  private async compact(): Promise<void> {
    const text = this.source!.snapshot();
    const seq = this.seq;
    await this.journal!.close();
    this.journal = undefined;
    await rename(path.join(this.dir, JOURNAL_FILE), path.join(this.dir, OLD_JOURNAL_FILE));
    this.journal = await open(path.join(this.dir, JOURNAL_FILE), 'a');
    this.journalBytes = 0;
    this.compacting = (async () => {
      try {
        await this.writeSnapshot(text, seq);
        await rm(path.join(this.dir, OLD_JOURNAL_FILE));
      } catch (err) {
        this.failure ??= err as Error;
      } finally {
        this.compacting = undefined;
      }
    })();
  }

  /** Writes `text` (a JSON object) as the snapshot of everything up to record `seq`. */
  private async writeSnapshot(text: string, seq = this.seq): Promise<void> {
    const file = path.join(this.dir, SNAPSHOT_FILE);
    const tmp = `${file}.tmp`;
    const body = `${text.slice(0, -1)}${text.length > 2 ? ',' : ''}"journalSeq":${seq}}`;
    await writeFile(tmp, body);
    await rename(tmp, file);
    this.snapshotBytes = Buffer.byteLength(body);
  }
}
