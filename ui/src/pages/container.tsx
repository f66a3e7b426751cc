// One container: its definition, keys and state cause; the commands an operator may send; its
// event history with causes; and its commands.
import { useState } from 'preact/hooks';
import { api, q } from '../api';
import { ActionButton, ErrorNote, Json, Section, StateBadge } from '../components';
import { CommandTable } from '../command-table';
import { time } from '../format';
import { usePoll } from '../poll';
import type { Command, Container, List, NodeEvent, Session } from '../types';

const SIMPLE = ['start', 'stop', 'reboot', 'suspend', 'resume', 'reconcile'] as const;

function Actions({ container, hosts, onChange }: { container: Container; hosts: string[]; onChange: () => void }) {
  const [target, setTarget] = useState('');
  const base = `/v1/containers/${q(container.name)}`;
  const act = (path: string, body: unknown = {}) => async () => {
    await api.post(`${base}/${path}`, body);
    onChange();
  };
  return (
    <div class="toolbar" aria-label="commands">
      {SIMPLE.map((c) => (
        <ActionButton key={c} label={c} run={act(c)} />
      ))}
      <span class="group">
        <select aria-label="migrate to" value={target} onChange={(e) => setTarget((e.target as HTMLSelectElement).value)}>
          <option value="">allocator chooses</option>
          {hosts
            .filter((h) => h !== container.parent?.name)
            .map((h) => (
              <option key={h}>{h}</option>
            ))}
        </select>
        <ActionButton label="migrate" run={act('migrate', target ? { target } : {})} />
      </span>
      <ActionButton
        label="destroy"
        danger
        confirm={`Destroy ${container.name}? Its VM is removed and its keys released.`}
        run={async () => {
          await api.delete(base);
          onChange();
        }}
      />
    </div>
  );
}

export function ContainerPage({ name, session }: { name: string; session: Session }) {
  const node = usePoll(() => api.get<Container>(`/v1/containers/${q(name)}`), [name]);
  const events = usePoll(() => api.get<List<NodeEvent>>(`/v1/containers/${q(name)}/events?limit=100`), [name]);
  const commands = usePoll(() => api.get<List<Command>>(`/v1/commands?container=${q(name)}&limit=25`), [name]);
  const hosts = usePoll(() => api.get<List<{ name: string }>>('/v1/hypervisors'), [], 10_000);
  const refresh = () => {
    node.refresh();
    events.refresh();
    commands.refresh();
  };
  const c = node.data;
  if (!c) return node.error ? <ErrorNote error={node.error} /> : <p class="muted">loading…</p>;
  const cause = c.metadata['vmflow.stateCause'];
  const canAct = session.role !== 'viewer';
  return (
    <div data-container-page={c.name}>
      <header class="page-head">
        <h1>
          <a href="#/containers" class="muted">
            containers /
          </a>{' '}
          {c.name} <StateBadge state={c.state} />
        </h1>
        <p class="muted">
          {c.definition.kind} on {c.parent ? <a href={`#/containers?host=${q(c.parent.name ?? '')}`}>{c.parent.name}</a> : 'no host'}
          {c.environment ? (
            <>
              {' '}
              in <a href={`#/environments/${q(c.environment.name ?? '')}`}>{c.environment.name}</a>
            </>
          ) : null}
          {typeof cause === 'string' ? <> · {cause}</> : null}
        </p>
        <ErrorNote error={node.error} />
      </header>
      {canAct ? (
        <Section title="Commands to send">
          <Actions container={c} hosts={(hosts.data?.items ?? []).map((h) => h.name).sort()} onChange={refresh} />
        </Section>
      ) : null}
      <div class="columns">
        <Section title="Definition">
          <Json value={c.definition} />
        </Section>
        <Section title="Keys and tags">
          <ul class="keys">
            {c.keys.map((k) => (
              <li key={k} class="mono">
                {k}
              </li>
            ))}
          </ul>
          {Object.keys(c.tags).length ? <Json value={c.tags} /> : <p class="muted small">no tags</p>}
          <p class="muted small">
            version {c.version} · created {time(c.createdAt)} · updated {time(c.updatedAt)}
          </p>
        </Section>
      </div>
      <Section title="Commands">
        <ErrorNote error={commands.error} />
        <CommandTable label="container commands" commands={commands.data?.items ?? []} canAct={canAct} onChange={refresh} />
      </Section>
      <Section title="Event history">
        <ErrorNote error={events.error} />
        {events.data?.items.length ? (
          <table class="grid" aria-label="events">
            <thead>
              <tr>
                <th>when</th>
                <th>what</th>
                <th>why</th>
                <th>by</th>
                <th>command</th>
              </tr>
            </thead>
            <tbody>
              {events.data.items.map((e) => (
                <tr key={e.id} data-by={e.by}>
                  <td class="small">{time(e.at)}</td>
                  <td>{e.what}</td>
                  <td class="small">{e.why}</td>
                  <td>{e.by}</td>
                  <td class="mono small">{e.commandId ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <p class="muted">no events recorded</p>
        )}
      </Section>
    </div>
  );
}
