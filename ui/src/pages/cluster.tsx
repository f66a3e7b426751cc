// Every host as a card: cpu, memory and disk split into used, held by placeholders and free;
// its state (up, down, cordoned), last contact and containers; the cluster's totals; and the
// capacity over time from the monitor's samples, for the cluster or one host.
import { useState } from 'preact/hooks';
import { api, q } from '../api';
import { CapacityChart } from '../capacity-chart';
import { ErrorNote, Section, StateBadge, UsageBar } from '../components';
import { ago, gib, mib } from '../format';
import { usePoll } from '../poll';
import type { Amounts, Cluster, HostUsage, Samples } from '../types';

const WINDOWS = [
  { minutes: 60, label: 'last hour' },
  { minutes: 360, label: 'last 6 hours' },
  { minutes: 1440, label: 'last 24 hours' },
];

function CapacityOverTime({ hosts }: { hosts: string[] }) {
  const [minutes, setMinutes] = useState(60);
  const [host, setHost] = useState('');
  const samples = usePoll(() => api.get<Samples>(`${host ? `/v1/hypervisors/${q(host)}/samples` : '/v1/cluster/samples'}?minutes=${minutes}&points=60`), [minutes, host], 15_000);
  return (
    <Section
      title="Capacity over time"
      actions={
        <div class="filters">
          <select aria-label="chart scope" value={host} onChange={(e) => setHost((e.target as HTMLSelectElement).value)}>
            <option value="">whole cluster</option>
            {hosts.map((h) => (
              <option key={h}>{h}</option>
            ))}
          </select>
          <select aria-label="chart window" value={minutes} onChange={(e) => setMinutes(Number((e.target as HTMLSelectElement).value))}>
            {WINDOWS.map((w) => (
              <option key={w.minutes} value={w.minutes}>
                {w.label}
              </option>
            ))}
          </select>
        </div>
      }
    >
      <ErrorNote error={samples.error} />
      <div data-capacity-chart={host || 'cluster'}>{samples.data ? <CapacityChart samples={samples.data} /> : <p class="muted">loading…</p>}</div>
      <p class="legend small">
        <span class="swatch used" /> used by containers <span class="swatch held" /> held by placeholders <span class="swatch allowed" /> allowed (capacity × overcommit)
        {samples.data ? <span> · one point per {samples.data.stepSeconds / 60} min</span> : null}
      </p>
    </Section>
  );
}

const count = (n: number) => String(n);

function Bars({ used, held, allowance }: { used: Amounts; held: Amounts; allowance: Amounts }) {
  return (
    <div class="bars">
      <UsageBar label="cpu" containers={used.cpus} placeholders={held.cpus} allowance={allowance.cpus} format={count} />
      <UsageBar label="memory" containers={used.memoryMiB} placeholders={held.memoryMiB} allowance={allowance.memoryMiB} format={mib} />
      <UsageBar label="disk" containers={used.diskGiB} placeholders={held.diskGiB} allowance={allowance.diskGiB} format={gib} />
    </div>
  );
}

function HostCard({ host }: { host: HostUsage }) {
  return (
    <article class={`card host host-${host.state}`} data-host={host.name} data-state={host.state}>
      <header class="card-head">
        <h3>{host.name}</h3>
        {host.state === 'draining' ? (
          <span class="badge state-draining" data-state="draining" title="cordoned: nothing new is placed here">
            cordoned (draining)
          </span>
        ) : (
          <StateBadge state={host.state} />
        )}
      </header>
      <Bars used={host.containers} held={host.placeholders} allowance={host.allowance} />
      <dl class="facts">
        <dt>containers</dt>
        <dd>
          <a href={`#/containers?host=${encodeURIComponent(host.name)}`} data-count={host.containerCount}>
            {host.containerCount}
          </a>
          {host.placeholderCount ? <span class="muted"> + {host.placeholderCount} placeholder{host.placeholderCount === 1 ? '' : 's'}</span> : null}
        </dd>
        <dt>last contact</dt>
        <dd title={host.lastContact ?? ''}>{ago(host.lastContact)}</dd>
        <dt>driver</dt>
        <dd>{host.driver}</dd>
        {host.load !== null ? (
          <>
            <dt>load</dt>
            <dd>{host.load.toFixed(2)}</dd>
          </>
        ) : null}
      </dl>
      {host.stateCause && host.state !== 'up' ? <p class="cause small">{host.stateCause}</p> : null}
    </article>
  );
}

export function ClusterPage() {
  const { data, error } = usePoll(() => api.get<Cluster>('/v1/cluster'), []);
  if (!data) return error ? <ErrorNote error={error} /> : <p class="muted">loading…</p>;
  const t = data.totals;
  const states = Object.entries(t.hosts).sort(([a], [b]) => a.localeCompare(b));
  return (
    <div>
      <section class="panel totals" aria-label="totals">
        <div class="totals-row">
          <div class="total">
            <span class="big" data-testid="host-count">
              {data.hosts.length}
            </span>{' '}
            hosts
            <div class="muted small">{states.map(([s, n]) => `${n} ${s}`).join(' · ')}</div>
          </div>
          <div class="total">
            <span class="big">{t.containerCount}</span> containers
            <div class="muted small">
              {Object.entries(t.containersByState)
                .map(([s, n]) => `${n} ${s}`)
                .join(' · ') || 'none yet'}
            </div>
          </div>
          <div class="total">
            <span class="big">{t.placeholderCount}</span> placeholders
            <div class="muted small">capacity held by commands in flight</div>
          </div>
          <div class="total wide">
            <Bars used={t.containers} held={t.placeholders} allowance={t.allowance} />
          </div>
        </div>
        <p class="legend small">
          <span class="swatch used" /> used by containers <span class="swatch held" /> held by placeholders <span class="swatch free" /> free
        </p>
      </section>
      <ErrorNote error={error} />
      <CapacityOverTime hosts={data.hosts.map((h) => h.name)} />
      <div class="cards">
        {data.hosts.map((h) => (
          <HostCard key={h.id} host={h} />
        ))}
      </div>
    </div>
  );
}
