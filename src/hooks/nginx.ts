// The nginx configuration a balancer serves: one upstream block with every web server.

export const UPSTREAM_PATH = '/etc/nginx/conf.d/vmflow-upstream.conf';

function upstreamName(environment: string): string {
  return `vmflow_${environment.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

/** A complete conf.d file: the upstream list and a server that proxies to it. */
export function upstreamConfig(environment: string, addresses: readonly string[], port = 80): string {
  const name = upstreamName(environment);
  const servers = [...addresses].sort().map((a) => `    server ${a}:${port};`);
  return [
    `# managed by vmflow for environment ${environment}`,
    `upstream ${name} {`,
    // An upstream block needs at least one server: a placeholder that is never used.
    ...(servers.length ? servers : ['    server 127.0.0.1:65535 down;']),
    '}',
    'server {',
    '    listen 8080;',
    '    location / {',
    `        proxy_pass http://${name};`,
    '    }',
    '}',
    '',
  ].join('\n');
}

/** The addresses an upstream configuration lists. */
export function upstreamAddresses(config: string): string[] {
  return [...config.matchAll(/^\s*server\s+([0-9.]+):\d+;/gm)].map((m) => m[1]!).filter((a) => a !== '127.0.0.1');
}
