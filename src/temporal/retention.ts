// A namespace's retention as operators write it: 7d, 72h, 2w.

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** `7d`, `72h`, `2w` (also `30m`, `90s`) in seconds; undefined when it is not a duration. */
export function parseRetention(text: string): number | undefined {
  const m = /^\s*(\d+)\s*([smhdw])\s*$/i.exec(text);
  return m ? Number(m[1]) * UNITS[m[2]!.toLowerCase()]! : undefined;
}

export function formatRetention(seconds: number | undefined): string {
  if (seconds === undefined) return 'unknown';
  for (const [unit, size] of [['d', 86_400], ['h', 3600], ['m', 60]] as const) if (seconds % size === 0) return `${seconds / size}${unit}`;
  return `${seconds}s`;
}
