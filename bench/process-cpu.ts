// CPU time of this process's descendants, read from /proc/<pid>/stat and sorted into roles by
// their command lines, so a benchmark can say where the time of a command went: the worker, the
// Temporal server, the database.
import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ on Linux. */
const TICKS_PER_SECOND = 100;

interface Proc {
  readonly pid: number;
  readonly ppid: number;
  readonly cpuMs: number;
  readonly cmdline: string;
}

function readProc(pid: string): Proc | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    return { pid: Number(pid), ppid: Number(fields[1]), cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND, cmdline };
  } catch {
    return undefined;
  }
}

/** Every descendant of `root`, with its CPU time so far (user + system, in ms). */
export function descendants(root = process.pid): Proc[] {
  let all: Proc[];
  try {
    all = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).flatMap((p) => readProc(p) ?? []);
  } catch {
    return [];
  }
  const children = new Map<number, Proc[]>();
  for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const out: Proc[] = [];
  const walk = (pid: number) => {
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      walk(c.pid);
    }
  };
  walk(root);
  return out;
}

/** The role of a process, by its command line; undefined for processes of no interest. */
export type Classify = (cmdline: string) => string | undefined;

/** CPU ms per role among this process's descendants, plus `bench` for this process itself. */
export function cpuByRole(classify: Classify): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of descendants()) {
    const role = classify(p.cmdline);
    if (role) out[role] = (out[role] ?? 0) + p.cpuMs;
  }
  const own = process.cpuUsage();
  out.bench = (own.user + own.system) / 1000;
  return out;
}

export function difference(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));
}
