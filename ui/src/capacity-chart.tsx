// Capacity over time, drawn by hand in SVG from the monitor's samples: per resource, what
// containers used (blue) with what placeholders held stacked on it (amber), under the line of
// what the hosts allowed. A gap in the samples (the monitor did not run) is a gap in the chart.
import type { Amounts, SamplePoint, Samples } from './types';
import { gib, mib } from './format';

const W = 360;
const H = 130;
const PAD = { left: 44, right: 8, top: 8, bottom: 20 };

const RESOURCES: ReadonlyArray<{ key: keyof Amounts; label: string; format: (n: number) => string }> = [
  { key: 'cpus', label: 'cpu', format: (n) => `${+n.toFixed(1)}` },
  { key: 'memoryMiB', label: 'memory', format: (n) => mib(Math.round(n)) },
  { key: 'diskGiB', label: 'disk', format: (n) => gib(Math.round(n)) },
];

const clock = (iso: string) => new Date(iso).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', hour12: false });

/** Consecutive points no further apart than a step and a half: each run is drawn as one shape. */
function runs(points: readonly SamplePoint[], stepMs: number): SamplePoint[][] {
  const out: SamplePoint[][] = [];
  for (const p of points) {
    const last = out[out.length - 1]?.at(-1);
    if (last && Date.parse(p.at) - Date.parse(last.at) <= stepMs * 1.5) out[out.length - 1]!.push(p);
    else out.push([p]);
  }
  return out;
}

function ResourceChart({ samples, resource }: { samples: Samples; resource: (typeof RESOURCES)[number] }) {
  const { key, label, format } = resource;
  const from = Date.parse(samples.from);
  const to = Date.parse(samples.to);
  const stepMs = samples.stepSeconds * 1000;
  const max = Math.max(1, ...samples.points.map((p) => Math.max(p.allowance[key], p.containers[key] + p.placeholders[key])));
  // A point stands for its bucket: drawn at the bucket's middle.
  const x = (iso: string) => PAD.left + ((Date.parse(iso) + stepMs / 2 - from) / (to - from)) * (W - PAD.left - PAD.right);
  const y = (v: number) => H - PAD.bottom - (v / max) * (H - PAD.top - PAD.bottom);
  const area = (run: SamplePoint[], top: (p: SamplePoint) => number, bottom: (p: SamplePoint) => number) => {
    // A single point is drawn as a bar one step wide.
    const pts = run.length === 1 ? [{ ...run[0]!, at: new Date(Date.parse(run[0]!.at) - stepMs / 2).toISOString() }, { ...run[0]!, at: new Date(Date.parse(run[0]!.at) + stepMs / 2).toISOString() }] : run;
    const upper = pts.map((p) => `${x(p.at).toFixed(1)},${y(top(p)).toFixed(1)}`);
    const lower = [...pts].reverse().map((p) => `${x(p.at).toFixed(1)},${y(bottom(p)).toFixed(1)}`);
    return `M${upper.join('L')}L${lower.join('L')}Z`;
  };
  const line = (run: SamplePoint[], v: (p: SamplePoint) => number) => {
    const pts = run.length === 1 ? [Date.parse(run[0]!.at) - stepMs / 2, Date.parse(run[0]!.at) + stepMs / 2].map((t) => ({ ...run[0]!, at: new Date(t).toISOString() })) : run;
    return `M${pts.map((p) => `${x(p.at).toFixed(1)},${y(v(p)).toFixed(1)}`).join('L')}`;
  };
  const groups = runs(samples.points, stepMs);
  const last = samples.points.at(-1);
  return (
    <figure class="chart" data-chart={label} data-points={samples.points.length}>
      <figcaption>
        <strong>{label}</strong>
        {last ? (
          <span class="muted small">
            {' '}
            latest sample {format(last.containers[key] + last.placeholders[key])} of {format(last.allowance[key])}
          </span>
        ) : null}
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${label} over time`}>
        <line class="axis" x1={PAD.left} x2={W - PAD.right} y1={y(0)} y2={y(0)} />
        <line class="grid-line" x1={PAD.left} x2={W - PAD.right} y1={y(max)} y2={y(max)} />
        <text class="tick" x={PAD.left - 4} y={y(max) + 4} text-anchor="end">
          {format(max)}
        </text>
        <text class="tick" x={PAD.left - 4} y={y(0)} text-anchor="end">
          0
        </text>
        <text class="tick" x={PAD.left} y={H - 4}>
          {clock(samples.from)}
        </text>
        <text class="tick" x={W - PAD.right} y={H - 4} text-anchor="end">
          {clock(samples.to)}
        </text>
        {groups.map((run, i) => (
          <g key={i}>
            <path class="area-used" d={area(run, (p) => p.containers[key], () => 0)} />
            <path class="area-held" d={area(run, (p) => p.containers[key] + p.placeholders[key], (p) => p.containers[key])} />
            <path class="line-allowance" d={line(run, (p) => p.allowance[key])} />
          </g>
        ))}
        {samples.points.map((p) => (
          <rect key={p.at} class="hover" x={x(p.at) - 3} y={PAD.top} width={6} height={H - PAD.top - PAD.bottom}>
            <title>
              {`${clock(p.at)}: ${format(p.containers[key])} used, ${format(p.placeholders[key])} held, ${format(p.allowance[key])} allowed; ${p.up} of ${p.hosts} host${p.hosts === 1 ? '' : 's'} up`}
            </title>
          </rect>
        ))}
      </svg>
    </figure>
  );
}

export function CapacityChart({ samples }: { samples: Samples }) {
  if (!samples.points.length)
    return (
      <p class="muted" data-chart-empty>
        No samples in this window yet: the monitor records one per host at most every {samples.spacingSeconds} s.
      </p>
    );
  return (
    <div class="charts">
      {RESOURCES.map((r) => (
        <ResourceChart key={r.key} samples={samples} resource={r} />
      ))}
    </div>
  );
}
