// How the CLI prints: aligned tables (kubectl style; `-o wide` adds columns), `-o json` or `-o
// yaml` of the API's resources, and flag parsing whose errors name the flag.
import Table from 'cli-table3';
import { Option, type Command } from 'commander';
import { stringify } from 'yaml';
import { InvalidInputError } from '../domain/errors';

export const FORMATS = ['table', 'wide', 'json', 'yaml'] as const;
export type Format = (typeof FORMATS)[number];

export interface OutputOptions {
  readonly output?: Format;
}

/** Adds `-o, --output <table|wide|json|yaml>`. */
export function withOutput(cmd: Command): Command {
  return cmd.addOption(new Option('-o, --output <format>', 'output format: table, wide (a table with more columns), json or yaml').choices([...FORMATS]).default('table'));
}

/** True for the formats that print data (json, yaml) rather than text for people. */
export function isStructured(o: OutputOptions): boolean {
  return o.output === 'json' || o.output === 'yaml';
}

/** Prints `value` as JSON or YAML, as `-o` asked. */
export function printData(o: OutputOptions, value: unknown): void {
  process.stdout.write(o.output === 'yaml' ? stringify(value, { aliasDuplicateObjects: false }) : `${JSON.stringify(value, null, 2)}\n`);
}

const BLANK = {
  top: '',
  'top-mid': '',
  'top-left': '',
  'top-right': '',
  bottom: '',
  'bottom-mid': '',
  'bottom-left': '',
  'bottom-right': '',
  left: '',
  'left-mid': '',
  mid: '',
  'mid-mid': '',
  right: '',
  'right-mid': '',
  middle: '',
};

/** An aligned table without borders; `rows` are arrays of cells in column order. */
export function table(head: readonly string[], rows: ReadonlyArray<ReadonlyArray<unknown>>): string {
  const t = new Table({ head: [...head], chars: BLANK, style: { head: [], border: [], 'padding-left': 0, 'padding-right': 3, compact: true } });
  for (const r of rows) t.push(r.map((c) => (c === undefined || c === null || c === '' ? '-' : String(c))));
  return t
    .toString()
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n');
}

export function printTable(head: readonly string[], rows: ReadonlyArray<ReadonlyArray<unknown>>): void {
  process.stdout.write(`${table(head, rows)}\n`);
}

/** `key: value` lines, aligned. */
export function printFields(fields: ReadonlyArray<readonly [string, unknown]>): void {
  const width = Math.max(...fields.map(([k]) => k.length)) + 1;
  for (const [k, v] of fields) process.stdout.write(`${`${k}:`.padEnd(width)} ${v === undefined || v === null || v === '' ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v)}\n`);
}

/** How long ago an ISO time was: 5s, 3m, 2h, 4d. */
export function age(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

/** Flag parsers for commander: they throw an error that names the flag. */
export const flag = {
  positive(name: string) {
    return (raw: string): number => {
      const n = Number(raw);
      if (!Number.isFinite(n) || n <= 0) throw new InvalidInputError([{ field: name, problem: `must be a positive number, not "${raw}"` }], 'flags');
      return n;
    };
  },
  integer(name: string, min = 0) {
    return (raw: string): number => {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < min) throw new InvalidInputError([{ field: name, problem: `must be an integer >= ${min}, not "${raw}"` }], 'flags');
      return n;
    };
  },
  /** Repeatable `k=v`, collected into an object. */
  pairs(name: string) {
    return (raw: string, previous: Record<string, string> = {}): Record<string, string> => {
      const i = raw.indexOf('=');
      if (i <= 0) throw new InvalidInputError([{ field: name, problem: `must be key=value, not "${raw}"` }], 'flags');
      return { ...previous, [raw.slice(0, i)]: raw.slice(i + 1) };
    };
  },
};
