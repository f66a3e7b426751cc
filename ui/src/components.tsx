// Small pieces every page uses.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError } from './api';
import type { Progress } from './types';

/** A state as a coloured badge; the colour says whether it needs attention. */
export function StateBadge({ state }: { state: string }) {
  return (
    <span class={`badge state-${state.toLowerCase()}`} data-state={state}>
      {state.toLowerCase().replace(/_/g, ' ')}
    </span>
  );
}

/** One resource of a host: used by containers, held by placeholders, free. */
export function UsageBar({ label, containers, placeholders, allowance, format }: { label: string; containers: number; placeholders: number; allowance: number; format: (n: number) => string }) {
  const pct = (n: number) => (allowance > 0 ? Math.max(0, Math.min(100, (n / allowance) * 100)) : 0);
  const free = allowance - containers - placeholders;
  return (
    <div class="usage" title={`${label}: ${format(containers)} used, ${format(placeholders)} held by placeholders, ${format(free)} free of ${format(allowance)}`}>
      <div class="usage-label">
        <span>{label}</span>
        <span class="muted">
          {format(containers + placeholders)} / {format(allowance)}
        </span>
      </div>
      <div class="bar" role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={allowance} aria-valuenow={containers + placeholders}>
        <div class="bar-used" style={{ width: `${pct(containers)}%` }} />
        <div class="bar-held" style={{ width: `${pct(placeholders)}%` }} />
      </div>
    </div>
  );
}

export function ProgressLine({ progress, status }: { progress?: Progress; status: string }) {
  if (!progress) return <span class="muted">{status === 'RUNNING' ? 'starting…' : ''}</span>;
  const done = progress.stepsDone?.length ?? 0;
  const fraction = progress.fraction;
  return (
    <div class="progress" data-phase={progress.phase}>
      <div>
        <strong>{progress.phase}</strong> {progress.step}
        {progress.ahead ? <span class="muted"> · {progress.ahead} ahead in the queue</span> : null}
      </div>
      <div class="muted small">
        {done} step{done === 1 ? '' : 's'} done{progress.stepsDone?.length ? `: ${progress.stepsDone.join(', ')}` : ''}
      </div>
      {fraction !== undefined ? (
        <div class="bar thin">
          <div class="bar-used" style={{ width: `${Math.round(fraction * 100)}%` }} />
        </div>
      ) : null}
      {progress.error ? <div class="error small">{progress.error}</div> : null}
    </div>
  );
}

export function ErrorNote({ error }: { error: Error | undefined }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error instanceof ApiError && error.code !== 'UNREACHABLE' ? `${error.code}: ` : ''}
      {error.message}
    </p>
  );
}

export function Json({ value }: { value: unknown }) {
  return <pre class="json">{JSON.stringify(value, null, 2)}</pre>;
}

export function Section({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="panel">
      <header class="panel-head">
        <h2>{title}</h2>
        {actions ? <div class="actions">{actions}</div> : null}
      </header>
      {children}
    </section>
  );
}

/** A button that runs an API action, shows it is busy, and shows the API's refusal if any. */
export function ActionButton({ label, run, confirm, danger }: { label: string; run: () => Promise<unknown>; confirm?: string; danger?: boolean }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const click = async () => {
    if (confirm && !window.confirm(confirm)) return;
    setBusy(true);
    setError(undefined);
    try {
      await run();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="action">
      <button type="button" class={danger ? 'danger' : ''} disabled={busy} onClick={click}>
        {busy ? `${label}…` : label}
      </button>
      {error ? (
        <span class="error small" role="alert">
          {error}
        </span>
      ) : null}
    </span>
  );
}
