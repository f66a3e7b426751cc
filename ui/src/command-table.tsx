// Commands in a table: running ones with their live progress (the command's `progress` query),
// cancel for an operator, retarget for a migration that has not claimed capacity yet (the
// `retarget` update), and each linked to its workflow in the Temporal Web UI.
import { useState } from 'preact/hooks';
import { api, q } from './api';
import { ActionButton, ProgressLine, StateBadge } from './components';
import { duration, time } from './format';
import { usePoll } from './poll';
import type { Command, List } from './types';

function targetLink(c: Command) {
  return c.kind === 'environment' ? `#/environments/${q(c.target.name)}` : `#/containers/${q(c.target.name)}`;
}

/** A migration may change its target until it claims capacity: while queued or still loading. */
function retargetable(c: Command): boolean {
  if (c.kind !== 'container' || c.command !== 'migrate' || c.status !== 'RUNNING') return false;
  const p = c.progress;
  return !p || p.phase === 'queued' || (p.phase === 'running' && !(p.stepsDone ?? []).includes('claim capacity') && p.step !== 'claim capacity');
}

function Retarget({ command, hosts, onDone }: { command: Command; hosts: string[]; onDone: () => void }) {
  const [target, setTarget] = useState('');
  const current = command.progress?.target;
  return (
    <span class="group retarget">
      <select aria-label="new target" value={target} onChange={(e) => setTarget((e.target as HTMLSelectElement).value)}>
        <option value="">allocator chooses</option>
        {hosts
          .filter((h) => h !== command.progress?.host)
          .map((h) => (
            <option key={h}>{h}</option>
          ))}
      </select>
      <ActionButton
        label="retarget"
        run={async () => {
          await api.post(`${command.href}/modify`, target ? { target } : {});
          onDone();
        }}
      />
      {current ? <span class="muted small">now: {current}</span> : null}
    </span>
  );
}

function CommandRow({ listed, canAct, onChange, hosts }: { listed: Command; canAct: boolean; onChange: () => void; hosts: string[] }) {
  // A running command is read on its own for its progress; an ended one as listed.
  const live = usePoll(() => (listed.status === 'RUNNING' ? api.get<Command>(listed.href) : Promise.resolve(listed)), [listed.workflowId, listed.status], 1000);
  const c = live.data ?? listed;
  return (
    <tr data-command={c.workflowId} data-status={c.status}>
      <td>
        <strong>{c.command}</strong>{' '}
        <a href={targetLink(c)} class="muted">
          {c.kind === 'environment' ? 'environment ' : ''}
          {c.target.name}
        </a>
        {c.summary ? <div class="small">{c.summary}</div> : null}
      </td>
      <td>
        <StateBadge state={c.status} />
      </td>
      <td class="progress-cell">
        {c.status === 'RUNNING' ? <ProgressLine progress={c.progress} status={c.status} /> : c.error ? <span class="error small">{c.error.message}</span> : null}
      </td>
      <td class="small" title={c.startedAt}>
        {time(c.startedAt)}
        <div class="muted">{duration(c.startedAt, c.closedAt)}</div>
      </td>
      <td class="small">{c.requestedBy && c.requestedBy !== 'unknown' ? c.requestedBy : ''}</td>
      <td>
        <div class="row-actions">
          <a href={c.webUi} target="_blank" rel="noreferrer" class="small">
            Temporal Web UI
          </a>
          {canAct && retargetable(c) ? <Retarget command={c} hosts={hosts} onDone={() => (live.refresh(), onChange())} /> : null}
          {canAct && c.status === 'RUNNING' ? (
            <ActionButton
              label="cancel"
              danger
              confirm={`Cancel ${c.command} ${c.target.name}? What it has done is undone.`}
              run={async () => {
                await api.post(`${c.href}/cancel`);
                live.refresh();
                onChange();
              }}
            />
          ) : null}
        </div>
      </td>
    </tr>
  );
}

export function CommandTable({ commands, canAct, onChange, label }: { commands: Command[]; canAct: boolean; onChange: () => void; label: string }) {
  const anyRetargetable = canAct && commands.some(retargetable);
  const hosts = usePoll(() => (anyRetargetable ? api.get<List<{ name: string }>>('/v1/hypervisors') : Promise.resolve(undefined)), [anyRetargetable], 10_000);
  const hostNames = (hosts.data?.items ?? []).map((h) => h.name).sort();
  if (!commands.length) return <p class="muted">no commands</p>;
  return (
    <table class="grid" aria-label={label}>
      <thead>
        <tr>
          <th>command</th>
          <th>status</th>
          <th>progress</th>
          <th>started</th>
          <th>by</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {commands.map((c) => (
          <CommandRow key={c.workflowId} listed={c} canAct={canAct} onChange={onChange} hosts={hostNames} />
        ))}
      </tbody>
    </table>
  );
}
