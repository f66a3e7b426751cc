// One container: its definition, keys and state cause; where it was placed and why; its config
// files read through its host's driver; the commands an operator may send; its event history
// with causes; and its commands.
import { useEffect, useState } from 'preact/hooks';
import { api, q } from '../api';
import { ActionButton, ErrorNote, Json, Section, StateBadge } from '../components';
import { CommandTable } from '../command-table';
import { time } from '../format';
import { usePoll } from '../poll';
import type { Command, Container, ContainerFiles, List, NodeEvent, Session } from '../types';

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

/** The latest placement of the container: the host chosen, the candidates and what was passed over. */
function Placement({ events }: { events: NodeEvent[] }) {
  const placed = events.find((e) => e.what === 'placement');
  if (!placed) return <p class="muted small">no placement recorded (placed before placements were kept, or adopted by the monitor)</p>;
  const candidates = (placed.data.candidates as { host: string; score: number }[] | undefined) ?? [];
  const rejections = Object.entries((placed.data.rejections as Record<string, number> | undefined) ?? {}).filter(([, n]) => n > 0);
  return (
    <div data-placement={String(placed.data.host ?? '')}>
      <p>
        <strong>{String(placed.data.host ?? '')}</strong> <span class="muted small">· {time(placed.at)}</span>
      </p>
      <p class="small">{placed.why}</p>
      {candidates.length ? (
        <table class="grid" aria-label="placement candidates">
          <thead>
            <tr>
              <th>candidate</th>
              <th class="num">score</th>
            </tr>
          </thead>
          <tbody>
            {candidates.map((c) => (
              <tr key={c.host}>
                <td>{c.host}</td>
                <td class="num">{c.score}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {rejections.length ? (
        <ul class="small" aria-label="hosts passed over">
          {rejections.map(([reason, n]) => (
            <li key={reason}>
              {n} {n === 1 ? 'host' : 'hosts'} {reason}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

/**
 * The container's config files (what its hooks wrote: a balancer's upstream file), read through
 * its host's driver. Each read is a round trip to the host, so they are read again every minute
 * or on demand, not on every poll.
 */
function ConfigFilesPanel({ name, host }: { name: string; host: string | undefined }) {
  const [selected, setSelected] = useState<string | undefined>();
  const [tick, setTick] = useState(0);
  const list = usePoll(() => (host ? api.get<ContainerFiles>(`/v1/containers/${q(name)}/files`) : Promise.resolve(undefined)), [name, host, tick], 60_000);
  const file = usePoll(() => (host && selected ? api.get<ContainerFiles>(`/v1/containers/${q(name)}/files?path=${q(selected)}`) : Promise.resolve(undefined)), [name, host, selected, tick], 60_000);
  const paths = list.data?.paths ?? [];
  useEffect(() => {
    if (!selected && paths.length) setSelected(paths[0]);
  }, [paths.join('\n')]);
  return (
    <Section
      title="Config files"
      actions={
        <button type="button" onClick={() => setTick((t) => t + 1)} disabled={!host}>
          read again
        </button>
      }
    >
      {!host ? <p class="muted">It is on no host: there are no files to read.</p> : null}
      <ErrorNote error={list.error ?? file.error} />
      {host && list.data && !paths.length ? <p class="muted">No config file has been written into it.</p> : null}
      {paths.length ? (
        <div class="files">
          <ul aria-label="config files">
            {paths.map((p) => (
              <li key={p} class={p === selected ? 'selected' : ''}>
                <button type="button" class="link" onClick={() => setSelected(p)}>
                  {p}
                </button>
              </li>
            ))}
          </ul>
          <div>
            {file.data?.file ? (
              <>
                <p class="muted small">
                  {file.data.file.path} on {file.data.host}
                </p>
                <pre class="json" data-file={file.data.file.path}>
                  {file.data.file.content}
                </pre>
              </>
            ) : (
              <p class="muted small">reading…</p>
            )}
          </div>
        </div>
      ) : null}
    </Section>
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
      <div class="columns">
        <Section title="Placement">
          <Placement events={events.data?.items ?? []} />
        </Section>
        <ConfigFilesPanel name={c.name} host={c.parent?.name} />
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
