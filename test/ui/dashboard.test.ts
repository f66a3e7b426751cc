// The dashboard in a real browser (Debian's chromium through playwright-core) against the real
// stack: log in with a token, see the hosts, create a container from the form and watch it run,
// read an environment's members and upstreams, cancel a slow migration from the commands page,
// see a crashed host turn down, and see the banner when the API goes away.
// VMFLOW_SCREENSHOTS_DIR=docs/screenshots saves a screenshot of each page there.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MonitorOptions } from '../../workflows/monitor';
import { dashboardBundle } from '../../src/dashboard/bundle';
import { TASK_QUEUE } from '../../src/domain/names';
import { startApi, type ApiUnderTest } from '../api/support';
import { browserMissing, openBrowser, type Browser, type Page } from '../support/browser';
import { startStack, type Stack } from '../support/stack';

const missing = browserMissing();
const skip = missing && process.env.CI !== 'true' ? `the browser tests need chromium and playwright-core: ${missing}` : false;
const SHOTS = process.env.VMFLOW_SCREENSHOTS_DIR ? path.resolve(process.env.VMFLOW_SCREENSHOTS_DIR) : mkdtempSync(path.join(os.tmpdir(), 'vmflow-shots-'));
const MONITOR: MonitorOptions = { downAfter: 2, contactEverySeconds: 60, pollTimeoutMs: 2000 };
const web = { kind: 'web', cpus: 1, memoryMiB: 1024, diskGiB: 10 };

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

  test('shows a container with its keys, events and commands; a slow migration started there is cancelled from the commands page and undone', async () => {
    await open('#/containers/web1');
    await page.waitForSelector('[data-container-page="web1"]');
    await page.waitForSelector('table[aria-label="container commands"] tr[data-status="COMPLETED"]', { timeout: 30_000 });
    assert.match((await page.textContent('ul.keys')) ?? '', /name:web1/);
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

  test('a crashed host turns down on the cluster page once the monitor has seen it miss its polls', async () => {
    await open('#/cluster');
    await page.waitForSelector('[data-host="hv-4"][data-state="up"]');
    await stack.sim.admin.crash('hv-4');
    for (let i = 0; i < MONITOR.downAfter!; i++) await monitor();
    await page.waitForSelector('[data-host="hv-4"][data-state="down"]', { timeout: 15_000 });
    assert.equal(await page.locator('[data-host][data-state="up"]').count(), 3);
    await shot('cluster-host-down');
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
