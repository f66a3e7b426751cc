// The API resources the dashboard reads (the subset of each that it shows).

export interface Amounts {
  cpus: number;
  memoryMiB: number;
  diskGiB: number;
}

export interface HostUsage {
  id: string;
  name: string;
  state: string;
  stateCause: string | null;
  driver: string;
  lastContact: string | null;
  load: number | null;
  allowance: Amounts;
  containers: Amounts;
  placeholders: Amounts;
  free: Amounts;
  containerCount: number;
  placeholderCount: number;
}

export interface Cluster {
  at: string;
  hosts: HostUsage[];
  totals: {
    hosts: Record<string, number>;
    allowance: Amounts;
    containers: Amounts;
    placeholders: Amounts;
    free: Amounts;
    containerCount: number;
    containersByState: Record<string, number>;
    placeholderCount: number;
  };
}

export interface Link {
  id: string;
  name?: string;
  href: string;
}

export interface Container {
  id: string;
  name: string;
  state: string;
  definition: { kind: string; cpus: number; memoryMiB: number; diskGiB: number; network?: { ip?: string; mac?: string }; [k: string]: unknown };
  metadata: Record<string, unknown>;
  tags: Record<string, string>;
  keys: string[];
  version: number;
  createdAt: string;
  updatedAt: string;
  parent: Link | null;
  environment: Link | null;
}

export interface NodeEvent {
  id: number;
  at: string;
  what: string;
  why: string;
  by: string;
  commandId: string | null;
  data: Record<string, unknown>;
}

export interface Progress {
  phase?: string;
  step?: string;
  stepsDone?: string[];
  fraction?: number;
  ahead?: number;
  host?: string;
  target?: string;
  error?: string;
  status?: string;
}

export interface Command {
  workflowId: string;
  commandId: string;
  command: string;
  kind: string;
  target: { name: string; href: string };
  status: string;
  startedAt: string;
  closedAt?: string;
  summary?: string;
  requestedBy?: string;
  hosts?: { name: string }[];
  progress?: Progress;
  error?: { code: string; message: string };
  href: string;
  webUi: string;
}

export interface Member {
  id: string;
  name: string;
  kind: string;
  priority: number;
  state: string;
  ip: string;
  host: Link | null;
}

export interface Environment {
  id: string;
  name: string;
  state: string;
  definition: { description?: string; antiAffinity?: boolean };
  members: { href: string; items?: Member[] };
}

export interface Upstreams {
  balancer: { name: string; state: string; host: string | null } | null;
  upstreams: { name: string; ip: string; state: string; host: string | null }[];
  path: string;
  config: string | null;
}

export interface Session {
  name: string;
  role: 'viewer' | 'operator' | 'admin';
  kinds: string[];
  temporal: { namespace: string; webUi: string };
}

export interface List<T> {
  items: T[];
  total?: number;
}

export interface SamplePoint {
  at: string;
  hosts: number;
  up: number;
  allowance: Amounts;
  containers: Amounts;
  placeholders: Amounts;
}

export interface Samples {
  from: string;
  to: string;
  stepSeconds: number;
  spacingSeconds: number;
  points: SamplePoint[];
}

export interface Page<T> {
  items: T[];
  limit: number;
  nextPageToken?: string;
}

export interface ContainerFiles {
  container: string;
  host: string;
  paths: string[];
  file?: { path: string; content: string };
}
