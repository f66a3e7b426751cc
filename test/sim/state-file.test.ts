// The state folder: a snapshot plus a journal of changed hosts, compacted as it grows.
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { replayedState } from '../../src/sim/saved-state';
import { JOURNAL_FILE, OLD_JOURNAL_FILE, SNAPSHOT_FILE, StateStore, type StateSource } from '../../src/sim/state-file';

/** A farm reduced to what the store reads: hosts as plain objects, and farm-level fields. */
class FakeFarm implements StateSource {
  hosts = new Map<string, { id: string; n: number; pad: string }>();
  farmFields: Record<string, unknown> = { delays: {}, ruleSeq: 0, rules: [] };
  snapshot(): string {
    return JSON.stringify({ format: 'vmflow-sim/1', ...this.farmFields, hosts: [...this.hosts.values()] });
  }
  farm(): string {
    return JSON.stringify(this.farmFields);
  }
  host(id: string): string | undefined {
    const h = this.hosts.get(id);
    return h && JSON.stringify(h);
  }
  expected(): unknown {
    return JSON.parse(this.snapshot()) as unknown;
  }
}

/** The state a fresh store finds in the folder, without the snapshot's own bookkeeping. */
function reloaded(dir: string): unknown {
  const loaded = new StateStore(dir).load();
  assert.ok(loaded);
  const { journalSeq: _seq, ...state } = replayedState(loaded) as Record<string, unknown>;
  return state;
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'vmflow-sim-store-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

test('a save appends only the hosts it names; a reload replays them over the snapshot', async () => {
  const farm = new FakeFarm();
  for (let i = 0; i < 100; i++) farm.hosts.set(`h${i}`, { id: `h${i}`, n: 0, pad: 'x'.repeat(200) });
  const store = new StateStore(dir);
  assert.equal(store.load(), undefined);
  await store.open(farm);
  const snapshotSize = readFileSync(path.join(dir, SNAPSHOT_FILE)).length;

  farm.hosts.get('h7')!.n = 1;
  await store.save(['h7']);
  farm.hosts.delete('h8');
  farm.hosts.set('h100', { id: 'h100', n: 2, pad: '' });
  farm.farmFields = { ...farm.farmFields, delays: { start: 5 } };
  await Promise.all([store.save(['h8']), store.save(['h100'])]);
  await store.save([]);

  const lines = readFileSync(path.join(dir, JOURNAL_FILE), 'utf8').trimEnd().split('\n');
  assert.ok(lines.length <= 3, `${lines.length} journal lines for 3 save batches`);
  assert.ok(lines.every((l) => l.length < 1000), 'each line holds the changed hosts, not the farm');
  assert.equal(readFileSync(path.join(dir, SNAPSHOT_FILE)).length, snapshotSize, 'the snapshot is not rewritten');
  assert.deepEqual(reloaded(dir), farm.expected());
  await store.close();
});

test('the journal is compacted into a new snapshot once it outgrows it, and nothing is lost on the way', async () => {
  const farm = new FakeFarm();
  for (let i = 0; i < 10; i++) farm.hosts.set(`h${i}`, { id: `h${i}`, n: 0, pad: 'x'.repeat(100) });
  const store = new StateStore(dir, { compactBytes: 10_000 });
  await store.open(farm);
  const saves: Array<Promise<void>> = [];
  for (let round = 1; round <= 500; round++) {
    const id = `h${round % 10}`;
    farm.hosts.get(id)!.n = round;
    saves.push(store.save([id]));
    if (round % 7 === 0) await Promise.all(saves);
  }
  await Promise.all(saves);
  await store.close();
  const snapshot = JSON.parse(readFileSync(path.join(dir, SNAPSHOT_FILE), 'utf8')) as { journalSeq: number };
  assert.ok(snapshot.journalSeq > 0, 'a compaction wrote a snapshot past the start');
  const seqs = readFileSync(path.join(dir, JOURNAL_FILE), 'utf8').trimEnd().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { seq: number }).seq);
  assert.ok(seqs.every((seq) => seq > snapshot.journalSeq), 'the journal was started again at the snapshot');
  assert.equal(existsSync(path.join(dir, OLD_JOURNAL_FILE)), false);
  assert.ok(store.writes < 500, 'saves were grouped');
  assert.deepEqual(reloaded(dir), farm.expected());
});

test('a kill mid-compaction (journal renamed, snapshot not yet replaced) loses nothing', async () => {
  const farm = new FakeFarm();
  farm.hosts.set('a', { id: 'a', n: 0, pad: '' });
  const store = new StateStore(dir);
  await store.open(farm);
  for (let n = 1; n <= 3; n++) {
    farm.hosts.get('a')!.n = n;
    await store.save(['a']);
  }
  await store.close();
  // What compact() leaves when killed before the snapshot lands: the old snapshot, the renamed
  // journal, and a new journal with what came after.
  copyFileSync(path.join(dir, JOURNAL_FILE), path.join(dir, OLD_JOURNAL_FILE));
  farm.hosts.get('a')!.n = 4;
  writeFileSync(path.join(dir, JOURNAL_FILE), `{"seq":4,"farm":${farm.farm()},"hosts":{"a":${farm.host('a')}}}\n`);
  assert.deepEqual(reloaded(dir), farm.expected());

  // And killed after the snapshot landed but before the old journal was removed: its records are
  // in the snapshot and are skipped.
  const again = new StateStore(dir);
  const loaded = again.load()!;
  assert.equal(loaded.records.length, 4);
  await again.open(farm);
  await again.close();
  writeFileSync(path.join(dir, OLD_JOURNAL_FILE), `{"seq":3,"farm":${farm.farm()},"hosts":{"a":{"id":"a","n":3,"pad":""}}}\n`);
  assert.deepEqual(reloaded(dir), farm.expected());
});

test('a last journal line cut short by a kill is dropped; a bad line before it is an error naming the file', async () => {
  const farm = new FakeFarm();
  farm.hosts.set('a', { id: 'a', n: 1, pad: '' });
  const store = new StateStore(dir);
  await store.open(farm);
  await store.save(['a']);
  await store.close();
  const journal = path.join(dir, JOURNAL_FILE);
  appendFileSync(journal, '{"seq":2,"farm":{},"hosts":{"a":{"id":"a","n":');
  assert.deepEqual(reloaded(dir), farm.expected());

  appendFileSync(journal, '\n{"seq":3,"farm":{},"hosts":{}}\n');
  assert.throws(() => new StateStore(dir).load(), new RegExp(`${JOURNAL_FILE} line 2 is not valid JSON`));
});

test('a journal without its snapshot, or with a record missing, is an error rather than a silent loss', async () => {
  writeFileSync(path.join(dir, JOURNAL_FILE), '');
  assert.throws(() => new StateStore(dir).load(), /has no sim-state\.json beside it/);
  writeFileSync(path.join(dir, SNAPSHOT_FILE), '{"format":"vmflow-sim/1","delays":{},"hosts":[],"journalSeq":4}');
  writeFileSync(path.join(dir, JOURNAL_FILE), '{"seq":6,"farm":{},"hosts":{}}\n');
  assert.throws(() => new StateStore(dir).load(), /skips from record 4 to 6/);
});

test('a single state file of earlier versions loads as a snapshot with no journal', () => {
  writeFileSync(path.join(dir, SNAPSHOT_FILE), '{"format":"vmflow-sim/1","delays":{"start":3},"hosts":[{"id":"a"}]}');
  const loaded = new StateStore(dir).load();
  assert.deepEqual(loaded?.records, []);
  assert.deepEqual(replayedState(loaded!), { format: 'vmflow-sim/1', delays: { start: 3 }, hosts: [{ id: 'a' }] });
});
