import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { ESLint } from 'eslint';

const ROOT = path.resolve(__dirname, '..', '..');

test('workflow code passes the determinism lint', async () => {
  const eslint = new ESLint({ cwd: ROOT });
  const results = await eslint.lintFiles(['workflows']);
  const problems = results.flatMap((r) => r.messages.map((m) => `${path.relative(ROOT, r.filePath)}:${m.line} ${m.message}`));
  assert.deepEqual(problems, []);
});

test('the lint refuses Node built-ins, the database and floating promises in workflow code', async () => {
  const eslint = new ESLint({ cwd: ROOT });
  const probe = [
    "import { readFileSync } from 'node:fs';",
    "import { DataSource } from 'typeorm';",
    'async function f() { return 1; }',
    'export function g() { f(); return [readFileSync, DataSource]; }',
  ].join('\n');
  const [result] = await eslint.lintText(probe, { filePath: path.join(ROOT, 'workflows', 'command-runtime.ts') });
  const rules = result!.messages.map((m) => m.ruleId).sort();
  assert.deepEqual(rules, ['@typescript-eslint/no-floating-promises', '@typescript-eslint/no-restricted-imports', '@typescript-eslint/no-restricted-imports']);
});
