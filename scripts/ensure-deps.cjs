// Installs the npm dependencies when they are missing or older than package.json, so that
// `npm start` and `npm test` work on a fresh clone with no other step.
const { existsSync, statSync } = require('node:fs');
const { execSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const marker = path.join(root, 'node_modules', '.package-lock.json');
const lock = path.join(root, 'package-lock.json');
// npm writes node_modules/.package-lock.json after every install: older than the lock file means stale.
const stale = !existsSync(marker) || (existsSync(lock) && statSync(marker).mtimeMs < statSync(lock).mtimeMs);
if (stale) {
  // npm install (not npm ci): it installs the locked versions and tolerates optional
  // platform packages (other systems' @swc/core builds) that a registry mirror may not serve.
  console.error('vmflow: installing dependencies (npm install)');
  execSync('npm install --no-audit --no-fund', { cwd: root, stdio: 'inherit' });
}
