// Commands in a table: running ones with their live progress (the command's `progress` query),
// a cancel button for an operator, and each linked to its workflow in the Temporal Web UI.
import { api, q } from './api';
import { ActionButton, ProgressLine, StateBadge } from './components';
import { duration, time } from './format';
import { usePoll } from './poll';
import type { Command } from './types';

function targetLink(c: Command) {
  return c.kind === 'environment' ? `#/environments/${q(c.target.name)}` : `#/containers/${q(c.target.name)}`;
}

function CommandRow({ listed, canAct, onChange }: { listed: Command; canAct: boolean; onChange: () => void }) {
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
          <CommandRow key={c.workflowId} listed={c} canAct={canAct} onChange={onChange} />
        ))}
      </tbody>
    </table>
  );
}
