// A real browser for the dashboard tests: Debian's chromium driven by playwright-core, headless,
// on a fresh profile. Both are looked up at run time so that a machine without them skips these
// tests with the reason (and fails under CI=true, where .ci/run installs chromium).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The part of playwright-core's Page these tests use. */
export interface Page {
  goto(url: string): Promise<unknown>;
  fill(selector: string, value: string): Promise<void>;
  click(selector: string): Promise<void>;
  selectOption(selector: string, value: string): Promise<unknown>;
  waitForSelector(selector: string, options?: { timeout?: number; state?: 'attached' | 'visible' | 'detached' | 'hidden' }): Promise<unknown>;
  locator(selector: string): { count(): Promise<number>; first(): { textContent(): Promise<string | null> } };
  textContent(selector: string): Promise<string | null>;
  getAttribute(selector: string, name: string): Promise<string | null>;
  isDisabled(selector: string): Promise<boolean>;
  screenshot(options: { path: string; fullPage?: boolean }): Promise<unknown>;
  /** Evaluates a JavaScript expression in the page (a string: the test code has no DOM types). */
  evaluate<T>(expression: string): Promise<T>;
  on(event: 'dialog', listener: (dialog: { accept(): Promise<void> }) => void): void;
  on(event: 'pageerror', listener: (error: Error) => void): void;
  setViewportSize(size: { width: number; height: number }): Promise<void>;
}

interface BrowserContext {
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

interface Chromium {
  launchPersistentContext(userDataDir: string, options: { executablePath: string; headless: boolean; args: string[]; viewport?: { width: number; height: number } }): Promise<BrowserContext>;
}

/** Why the browser tests cannot run here, or undefined when they can. */
export function browserMissing(): string | undefined {
  if (!existsSync(CHROMIUM)) return `no chromium at ${CHROMIUM} (apt-get install chromium)`;
  try {
    require.resolve('playwright-core');
  } catch {
    return 'playwright-core is not installed (npm install)';
  }
  return undefined;
}

export interface Browser {
  readonly page: Page;
  close(): Promise<void>;
}

/** Chromium on a throwaway profile, with one page open. */
export async function openBrowser(): Promise<Browser> {
  const { chromium } = require('playwright-core') as { chromium: Chromium };
  const profile = mkdtempSync(path.join(os.tmpdir(), 'vmflow-chromium-'));
  // playwright-core gives the profile folder to chromium as --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  return {
    page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
