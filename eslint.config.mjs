// Workflow code must be deterministic: no Node built-ins, no database, no drivers, and no
// promise left floating (a dropped promise hides failures and breaks replay).
import tseslint from 'typescript-eslint';

const banned = [
  { group: ['node:*', 'fs', 'path', 'os', 'crypto', 'child_process', 'http', 'https', 'net', 'timers', 'worker_threads'], message: 'Workflow code is deterministic: do I/O in an activity.' },
  { group: ['typeorm', 'mysql2', 'better-sqlite3', '**/registry/index', '**/registry/typeorm*', '**/registry/migrations/*'], message: 'Only activities touch the registry.' },
  { group: ['**/drivers/sim', '**/drivers/libvirt', '**/drivers/libvirt/*', '**/sim/*'], message: 'Only activities reach hypervisors.' },
  { group: ['@temporalio/client', '@temporalio/worker', '@temporalio/activity'], message: 'Workflows import only @temporalio/workflow (and @temporalio/common).' },
];

export default tseslint.config({
  files: ['workflows/**/*.ts'],
  extends: [tseslint.configs.base],
  languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
  rules: {
    '@typescript-eslint/no-floating-promises': 'error',
    '@typescript-eslint/no-restricted-imports': ['error', { patterns: banned.map((b) => ({ ...b, allowTypeImports: true })) }],
  },
});
