// The dashboard in a real browser (Debian's chromium through playwright-core) against the real
// stack: log in with a token, see the hosts, create a container from the form and watch it run,
// see the capacity chart drawn from the monitor's samples, read an environment's members and
// upstreams, page, sort and filter the containers, read the balancer's upstream file and a
// container's placement, cancel a slow migration and retarget a queued one from the commands
// page, see a crashed host turn down, and see the banners when Temporal or the API goes away.
// VMFLOW_SCREENSHOTS_DIR=docs/screenshots saves a screenshot of each page there.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MonitorOptions } from '../../workflows/monitor';
import { dashboardBundle } from '../../src/dashboard/bundle';
import { TASK_QUEUE } from '../../src/domain/names';
import { UPSTREAM_PATH } from '../../src/hooks/nginx';
import { startApi, type ApiUnderTest } from '../api/support';
import { browserMissing, openBrowser, type Browser, type Page } from '../support/browser';
import { startStack, type Stack } from '../support/stack';

const missing = browserMissing();
const skip = missing && process.env.CI !== 'true' ? `the browser tests need chromium and playwright-core: ${missing}` : false;
const SHOTS = process.env.VMFLOW_SCREENSHOTS_DIR ? path.resolve(process.env.VMFLOW_SCREENSHOTS_DIR) : mkdtempSync(path.join(os.tmpdir(), 'vmflow-shots-'));
const MONITOR: MonitorOptions = { downAfter: 2, contactEverySeconds: 60, pollTimeoutMs: 2000 };
const web = { kind: 'web', cpus: 1, memoryMiB: 1024, diskGiB: 10 };
const ROOT = path.resolve(__dirname, '..', '..');

/** `vmflow <args>` as a child process against the API, with a token: what an operator runs. */
function cli(apiUrl: string, token: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VMFLOW_')));
  Object.assign(env, { VMFLOW_API_URL: apiUrl, VMFLOW_TOKEN: token, VMFLOW_TEMPORAL_ADDRESS: '127.0.0.1:1', VMFLOW_REGISTRY_URL: 'mysql://nobody@127.0.0.1:1/none' });
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'main.ts'), ...args], { cwd: ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the dashboard in a real browser', { skip }, () => {
  let stack: Stack;
  let api: ApiUnderTest;
  let browser: Browser;
  let page: Page;
  let apiClosed = false;
  const errors: Error[] = [];

  before(async () => {
    if (missing) throw new Error(`CI=true: the browser tests need chromium and playwright-core: ${missing}`);
    stack = await startStack({ hosts: ['hv-1', 'hv-2', 'hv-3', 'hv-4'].map((name) => ({ name })) });
    api = await startApi(stack, {}, { dashboard: { dir: await dashboardBundle() } });
    browser = await openBrowser();
    page = browser.page;
    page.on('pageerror', (err) => errors.push(err));
    page.on('dialog', (dialog) => void dialog.accept());
    mkdirSync(SHOTS, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    if (api) await (apiClosed ? api.store.close() : api.close());
    await stack?.stop();
  });

  const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  const open = async (hash: string) => {
    await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
  };
  const monitor = () => stack.client.temporal.workflow.execute('monitorCycle', { taskQueue: TASK_QUEUE, workflowId: `test-monitor-${randomUUID()}`, args: [MONITOR] });
  /**
   * Waits until a JavaScript expression is truthy in the page. Evaluated through the DevTools
   * protocol at each try: playwright's waitForFunction polls with eval, which the page's CSP forbids.
   */
  const until = async (expression: string, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await page.evaluate<unknown>(expression))) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${expression}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const logIn = async (token: string) => {
    await page.fill('input[name="token"]', token);
    await page.click('form[aria-label="log in"] button[type="submit"]');
  };

  test('a wrong token is refused; a viewer sees the four hosts and the containers but no create form', async () => {
    await page.goto(`${api.url}/`);
    await page.waitForSelector('form[aria-label="log in"]');
    await shot('login');
    await logIn('not-a-token');
    await page.waitForSelector('form[aria-label="log in"] .error');
    assert.match((await page.textContent('form[aria-label="log in"] .error')) ?? '', /not valid/);

    await logIn(api.tokens.viewer);
    await page.waitForSelector('.who[data-role="viewer"]');
    await page.waitForSelector('[data-host="hv-4"]');
    assert.equal(await page.locator('[data-host]').count(), 4);
    await open('#/containers');
    await page.waitForSelector('table[aria-label="containers"]');
    assert.equal(await page.locator('form[aria-label="create a container"]').count(), 0, 'a viewer is offered no create form');
    await page.click('.who button.link');
    await page.waitForSelector('form[aria-label="log in"]');
  });

  test('an operator logs in once for the session and sees the four hosts with their capacity', async () => {
    await logIn(api.tokens.operator);
    await page.waitForSelector('.who[data-role="operator"]');
    await open('#/cluster');
    await page.waitForSelector('[data-host="hv-1"][data-state="up"]');
    assert.equal(await page.locator('[data-host][data-state="up"]').count(), 4);
    assert.equal(await page.textContent('[data-testid="host-count"]'), '4');
    // The token is kept for the browser session: a reload needs no new log-in.
    await page.goto(`${api.url}/`);
    await page.waitForSelector('.who[data-role="operator"]');
    assert.equal(await page.evaluate("sessionStorage.getItem('vmflow.token')"), api.tokens.operator);
  });

  test('creates a container from the form and watches it reach running', async () => {
    await open('#/containers');
    await page.waitForSelector('form[aria-label="create a container"]');
    await page.fill('input[name="name"]', 'web1');
    await page.selectOption('select[name="kind"]', 'web');
    await page.selectOption('select[name="hint"]', 'hv-1');
    await page.click('form[aria-label="create a container"] button[type="submit"]');
    await page.waitForSelector('.followed');
    await page.waitForSelector('tr[data-container="web1"][data-state="running"]', { timeout: 60_000 });
    await page.waitForSelector('.followed[data-status="COMPLETED"]', { timeout: 30_000 });
    assert.equal((await stack.client.containers.get('web1')).state, 'running');
    await shot('containers');

    await open('#/cluster');
    await page.waitForSelector('[data-host="hv-1"] [data-count="1"]');
    await shot('cluster');
  });

  test("draws the capacity over time from the monitor's samples, for the cluster and for one host", async () => {
    const hv1 = await stack.client.hypervisors.get('hv-1');
    const hosts = await Promise.all(['hv-1', 'hv-2', 'hv-3', 'hv-4'].map((name) => stack.client.hypervisors.get(name)));
    const start = Date.now();
    // Most of an hour of history, a sample a minute per host (the monitor's spacing), as the
    // cluster was at each time: two big containers come and go, a claim is held for a while.
    const history = async (fromMinute: number, toMinute: number) => {
      for (let m = fromMinute; m >= toMinute; m--) {
        for (const host of hosts) await stack.services.registry.recordHostSample(host.id, { at: new Date(start - m * 60_000) });
      }
    };
    const big = { kind: 'generic', cpus: 4, memoryMiB: 8192, diskGiB: 100 };
    await history(50, 36);
    await Promise.all([
      stack.client.containers.create('load-1', { definition: big, hint: 'hv-2' }).then((h) => h.result()),
      stack.client.containers.create('load-2', { definition: big, hint: 'hv-3' }).then((h) => h.result()),
    ]);
    await history(35, 26);
    await stack.services.registry.claim({ hostId: hosts[3]!.id, commandId: 'chart-claim', containerName: 'pending', resources: { cpus: 4, memoryMiB: 8192, diskGiB: 50 }, ttlSeconds: 600 });
    await history(25, 18);
    await stack.services.registry.release('chart-claim');
    await (await stack.client.containers.destroy('load-2')).result();
    await history(17, 9);
    await (await stack.client.containers.destroy('load-1')).result();
    await history(8, 3);
    await monitor();
    const latest = await api.request('GET', '/v1/hypervisors/hv-1/samples?minutes=60&points=30', { token: api.tokens.viewer });
    assert.equal(latest.status, 200);
    const last = latest.json.points.at(-1);
    assert.deepEqual(last.containers, { cpus: 1, memoryMiB: 1024, diskGiB: 10 }, 'the monitor sampled web1 on hv-1');
    assert.equal(last.hosts, 1);
    const cluster = await api.request('GET', '/v1/cluster/samples?minutes=60', { token: api.tokens.viewer });
    assert.equal(cluster.json.points.at(-1).hosts, 4);
    assert.equal((await api.request('GET', '/v1/cluster/samples?minutes=1', { token: api.tokens.viewer })).status, 400);

    await open('#/cluster');
    const memory = '[data-capacity-chart="cluster"] figure[data-chart="memory"]';
    await page.waitForSelector(`${memory} svg path.area-used`);
    assert.ok(Number(await page.getAttribute(memory, 'data-points')) >= 24, 'a point per two-minute bucket of the sampled history');
    assert.equal(await page.locator('[data-capacity-chart="cluster"] figure[data-chart]').count(), 3, 'cpu, memory and disk');
    await page.selectOption('select[aria-label="chart scope"]', 'hv-1');
    await page.waitForSelector('[data-capacity-chart="hv-1"] figure[data-chart="memory"] path.area-used');
    assert.match((await page.textContent('[data-capacity-chart="hv-1"] figure[data-chart="memory"] figcaption')) ?? '', /latest sample 1 GiB of/);
    await page.selectOption('select[aria-label="chart scope"]', '');
    await page.waitForSelector('[data-capacity-chart="cluster"]');
    assert.equal(hv1.state, 'up');
    await shot('cluster');
  });

  test("shows an environment's members by priority, its balancer's upstreams and the hook log", async () => {
    await (await stack.client.environments.create('shop', { description: 'the web shop' })).result();
    await (await stack.client.environments.add('shop', { create: { name: 'shop-web-a', definition: web, hint: 'hv-2' } })).result();
    await (await stack.client.environments.add('shop', { create: { name: 'shop-web-b', definition: web, hint: 'hv-3' } })).result();
    await open('#/environments');
    await page.waitForSelector('[data-environment="shop"] tr[data-member="shop-web-b"]');
    await page.waitForSelector('[data-environment="shop"] ul[aria-label="upstreams"] li:nth-child(2)');
    assert.equal(await page.locator('[data-environment="shop"] ul[aria-label="upstreams"] li').count(), 2);
    assert.ok((await page.locator('[data-environment="shop"] ol[aria-label="hook log"] li').count()) > 0, 'the hook log of the last command is shown');
    // Members read lowest priority first: the web servers (20) before the balancer (30).
    const kinds = await page.evaluate(`[...document.querySelectorAll('[data-environment="shop"] tr[data-member] td:nth-child(3)')].map((td) => td.textContent)`);
    assert.deepEqual(kinds, ['web', 'web', 'balancer']);
    await shot('environments');
  });

  test('pages the containers by cursor, sorts them and filters them by state, host, kind, environment and text', async () => {
    // web1, shop-web-a, shop-web-b and the shop's balancer; two a page.
    const names = (await stack.client.containers.list()).map((c) => c.name).sort();
    assert.equal(names.length, 4);
    await page.goto(`${api.url}/#/containers?limit=2`);
    const rows = () => page.evaluate(`[...document.querySelectorAll('table[aria-label="containers"] tr[data-container]')].map((tr) => tr.dataset.container)`) as Promise<string[]>;
    await page.waitForSelector('[data-page-number="1"]');
    await until(`document.querySelectorAll('table[aria-label="containers"] tr[data-container]').length === 2`);
    assert.deepEqual(await rows(), names.slice(0, 2));
    await page.click('button[data-page="next"]');
    await page.waitForSelector('[data-page-number="2"]');
    await until(`document.querySelector('table[aria-label="containers"] tr[data-container]')?.dataset.container === ${JSON.stringify(names[2])}`);
    assert.deepEqual(await rows(), names.slice(2, 4));
    assert.equal(await page.isDisabled('button[data-page="next"]'), true, 'the last page has no next');
    await page.click('button[data-page="previous"]');
    await page.waitForSelector('[data-page-number="1"]');

    await page.selectOption('select[aria-label="page size"]', '50');
    await until(`document.querySelectorAll('table[aria-label="containers"] tr[data-container]').length === 4`);
    // Sorted by name, then by name descending.
    assert.deepEqual(await rows(), names);
    await page.click('table[aria-label="containers"] th button:has-text("name")');
    assert.deepEqual(await rows(), [...names].reverse());
    // Filters: kind and environment within the page, host and state on the server, text anywhere in the row.
    await page.selectOption('select[aria-label="kind"]', 'balancer');
    await until(`document.querySelectorAll('table[aria-label="containers"] tr[data-container]').length === 1`);
    const balancer = (await rows())[0]!;
    assert.match(balancer, /^shop-/);
    await page.selectOption('select[aria-label="kind"]', '');
    await page.selectOption('select[aria-label="environment"]', 'shop');
    await until(`document.querySelectorAll('table[aria-label="containers"] tr[data-container]').length === 3`);
    await page.selectOption('select[aria-label="environment"]', '');
    const hv2 = await stack.client.hypervisors.get('hv-2');
    const onHv2 = (await stack.client.containers.list()).filter((c) => c.parentId === hv2.id).map((c) => c.name).sort();
    assert.ok(onHv2.includes('shop-web-a'));
    await page.selectOption('select[aria-label="host"]', 'hv-2');
    await until(`document.querySelectorAll('table[aria-label="containers"] tr[data-container]').length === ${onHv2.length}`);
    // Still sorted by name descending.
    assert.deepEqual(await rows(), [...onHv2].reverse());
    await page.selectOption('select[aria-label="host"]', '');
    await page.selectOption('select[aria-label="state"]', 'stopped');
    await page.waitForSelector('table[aria-label="containers"] + p.muted');
    assert.deepEqual(await rows(), []);
    await page.selectOption('select[aria-label="state"]', '');
    const ip = (await stack.client.containers.get('shop-web-b')).definition.network!.ip!;
    await page.fill('input[aria-label="filter"]', ip);
    await until(`document.querySelectorAll('table[aria-label="containers"] tr[data-container]').length === 1`);
    assert.deepEqual(await rows(), ['shop-web-b']);
    await page.fill('input[aria-label="filter"]', '');
    await until(`document.querySelectorAll('table[aria-label="containers"] tr[data-container]').length === 4`);
    await shot('containers');
  });

  test("shows the balancer's upstream file, read through its host's driver, in the dashboard, the API and the CLI", async () => {
    const lb = (await stack.client.environments.members('shop')).find((m) => m.kind === 'balancer')!;
    const ips = (await stack.client.environments.members('shop')).filter((m) => m.kind === 'web').map((m) => m.ip);
    await open(`#/containers/${lb.name}`);
    const file = `pre[data-file="${UPSTREAM_PATH}"]`;
    await page.waitForSelector(file, { timeout: 30_000 });
    const content = (await page.textContent(file)) ?? '';
    for (const ip of ips) assert.match(content, new RegExp(`server ${ip.replace(/\./g, '\\.')}:80;`));
    assert.deepEqual(await page.evaluate(`[...document.querySelectorAll('ul[aria-label="config files"] li')].map((li) => li.textContent)`), [UPSTREAM_PATH]);
    await page.waitForSelector(`[data-placement="${lb.host}"]`);
    await shot('container-files');

    const read = await api.request('GET', `/v1/containers/${lb.name}/files?path=${encodeURIComponent(UPSTREAM_PATH)}`, { token: api.tokens.viewer });
    assert.equal(read.status, 200);
    assert.equal(read.json.file.content, content);
    assert.equal(read.json.host, lb.host);
    const missing = await api.request('GET', `/v1/containers/${lb.name}/files?path=/etc/passwd`, { token: api.tokens.viewer });
    assert.equal(missing.status, 404);
    assert.match(missing.json.error.message, /config file \/etc\/passwd in shop-.* not found/);
    assert.match(missing.json.error.message, new RegExp(UPSTREAM_PATH.replace(/\./g, '\\.')), 'it names the files there are');
    const outside = await api.request('GET', `/v1/containers/${lb.name}/files?path=${encodeURIComponent('/etc/../../secret')}`, { token: api.tokens.viewer });
    assert.equal(outside.status, 400);
    assert.match(outside.json.error.message, /\/etc\/\.\.\/\.\.\/secret/);

    const printed = await cli(api.url, api.tokens.viewer, ['containers', 'files', lb.name, UPSTREAM_PATH]);
    assert.equal(printed.code, 0, printed.stderr);
    assert.equal(printed.stdout, content);
    const listed = await cli(api.url, api.tokens.viewer, ['containers', 'files', lb.name]);
    assert.equal(listed.stdout, `${UPSTREAM_PATH}\n`);
    const refused = await cli(api.url, api.tokens.viewer, ['containers', 'files', lb.name, '/etc/passwd']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /\/etc\/passwd/);
  });

  test('shows a container with its keys, events and commands; a slow migration started there is cancelled from the commands page and undone', async () => {
    await open('#/containers/web1');
    await page.waitForSelector('[data-container-page="web1"]');
    await page.waitForSelector('table[aria-label="container commands"] tr[data-status="COMPLETED"]', { timeout: 30_000 });
    assert.match((await page.textContent('ul.keys')) ?? '', /name:web1/);
    await page.waitForSelector('[data-placement="hv-1"]');
    assert.match((await page.textContent('[data-placement="hv-1"]')) ?? '', /hv-1, as asked/);
    await page.waitForSelector('ul[aria-label="config files"], .panel:has(h2:has-text("Config files")) p.muted');
    await shot('container');

    await stack.sim.admin.setDelays({ migrate: 60_000 }, 'hv-1');
    try {
      await page.selectOption('select[aria-label="migrate to"]', 'hv-2');
      await page.click('.toolbar .group button');
      await open('#/commands');
      const running = 'tr[data-command*="/migrate/"][data-status="RUNNING"]';
      await page.waitForSelector(`${running} .progress[data-phase="running"]`, { timeout: 30_000 });
      await shot('commands');
      await page.click(`${running} button.danger`);
      await page.waitForSelector('tr[data-command*="/migrate/"][data-status="CANCELLED"]', { timeout: 60_000 });
    } finally {
      await stack.sim.admin.setDelays({ migrate: null }, 'hv-1');
    }
    const web1 = await stack.client.containers.get('web1');
    assert.equal(web1.parentId, (await stack.client.hypervisors.get('hv-1')).id, 'the cancelled migration left web1 where it was');
    assert.equal(web1.state, 'running');
  });

  test('retargets a migration queued behind a slow command from the commands page; it moves to the new target', async () => {
    await stack.sim.admin.setDelays({ reboot: 15_000 }, 'hv-1');
    try {
      await stack.client.containers.reboot('web1');
      const migrate = await stack.client.containers.migrate('web1', { target: 'hv-2' });
      await open('#/commands');
      const row = `tr[data-command="${migrate.workflowId}"]`;
      await page.waitForSelector(`${row} .progress[data-phase="queued"]`, { timeout: 30_000 });
      await page.selectOption(`${row} select[aria-label="new target"]`, 'hv-3');
      await page.click(`${row} .retarget button`);
      await page.waitForSelector(`${row} .retarget:has-text("now: hv-3")`, { timeout: 15_000 });
      await shot('commands-retarget');
      await migrate.result();
    } finally {
      await stack.sim.admin.setDelays({ reboot: null }, 'hv-1');
    }
    const web1 = await stack.client.containers.get('web1');
    assert.equal(web1.parentId, (await stack.client.hypervisors.get('hv-3')).id, 'the migration went to the new target');
    await page.waitForSelector(`tr[data-command*="/migrate/"][data-status="COMPLETED"]`, { timeout: 15_000 });
  });

  test('a cordoned host reads as cordoned on the cluster page, with its reason, until it is taken back', async () => {
    const hv2 = await stack.client.hypervisors.get('hv-2');
    await stack.client.hypervisors.drain(hv2.id, 'disk replacement', { keep: true });
    try {
      await open('#/cluster');
      await page.waitForSelector('[data-host="hv-2"][data-state="draining"]', { timeout: 15_000 });
      assert.match((await page.textContent('[data-host="hv-2"] .card-head')) ?? '', /cordoned \(draining\)/);
      assert.match((await page.textContent('[data-host="hv-2"]')) ?? '', /disk replacement/);
    } finally {
      await stack.client.hypervisors.undrain(hv2.id);
    }
    await page.waitForSelector('[data-host="hv-2"][data-state="up"]', { timeout: 15_000 });
  });

  test('a crashed host turns down on the cluster page once the monitor has seen it miss its polls', async () => {
    await open('#/cluster');
    await page.waitForSelector('[data-host="hv-4"][data-state="up"]');
    await stack.sim.admin.crash('hv-4');
    for (let i = 0; i < MONITOR.downAfter!; i++) await monitor();
    await page.waitForSelector('[data-host="hv-4"][data-state="down"]', { timeout: 15_000 });
    assert.equal(await page.locator('[data-host][data-state="up"]').count(), 3);
    await shot('cluster-host-down');
  });

  test('says so when the API answers but Temporal does not', async () => {
    await open('#/cluster');
    await page.waitForSelector('[data-host="hv-1"]');
    // A frozen server: it keeps its connections but answers nothing, as a hung or partitioned one.
    process.kill(stack.temporal.process.pid!, 'SIGSTOP');
    try {
      await page.waitForSelector('.banner.degraded', { timeout: 20_000 });
      assert.match((await page.textContent('.banner.degraded')) ?? '', /Temporal is not reachable/);
      await shot('temporal-down');
    } finally {
      process.kill(stack.temporal.process.pid!, 'SIGCONT');
    }
    await page.waitForSelector('.banner.degraded', { state: 'detached', timeout: 20_000 });
  });

  test('says so when the API cannot be reached', async () => {
    await api.app.close();
    apiClosed = true;
    await page.waitForSelector('[data-testid="unreachable"]', { timeout: 15_000 });
    // The last answer stays on screen.
    assert.equal(await page.locator('[data-host]').count(), 4);
    await shot('unreachable');
    assert.deepEqual(errors.map((e) => e.message), [], 'no script error on any page');
  });
});
