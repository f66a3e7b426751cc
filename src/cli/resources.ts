// The resources the REST API answers with, as the CLI reads them (see src/api/schemas.ts).
import type { CommandProgress } from '../domain/commands';

export interface Link {
  readonly id: string;
  readonly name?: string;
  readonly href: string;
}

export interface NodeResource {
  readonly id: string;
  readonly name: string;
  readonly href: string;
  readonly state: string;
  readonly definition: any;
  readonly metadata: Record<string, unknown>;
  readonly tags: Record<string, string>;
  readonly keys: string[];
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface ContainerResource extends NodeResource {
  readonly parent: Link | null;
  readonly environment: Link | null;
}

export interface Usage {
  readonly cpus: number;
  readonly memoryMiB: number;
  readonly diskGiB: number;
}

export interface HypervisorResource extends NodeResource {
  readonly usage?: Usage;
}

export interface ChildResource {
  readonly id: string;
  readonly name: string;
  readonly type: string;
  readonly state: string;
  readonly definition: any;
}

export interface MemberResource {
  readonly id: string;
  readonly name: string;
  readonly kind: string;
  readonly priority: number;
  readonly state: string;
  readonly ip: string;
  readonly host: Link | null;
}

export interface EnvironmentResource extends NodeResource {
  readonly members: { readonly href: string; readonly items?: MemberResource[] };
}

export interface List<T> {
  readonly items: T[];
  readonly total?: number;
}

/** A page of a list paged by token. */
export interface Page<T> {
  readonly items: T[];
  readonly nextPageToken?: string;
}

/** The 202 answer to every command. */
export interface Accepted {
  readonly commandId: string;
  readonly workflowId: string;
  readonly command: string;
  readonly target: string;
  readonly href: string;
  readonly webUi: string;
}

export interface CommandResource {
  readonly workflowId: string;
  readonly commandId: string;
  readonly command: string;
  readonly kind: 'container' | 'environment';
  readonly target: { readonly name: string; readonly href: string };
  /** RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT. */
  readonly status: string;
  readonly startedAt: string;
  readonly closedAt?: string;
  readonly summary?: string;
  readonly requestedBy?: string;
  readonly hosts?: ReadonlyArray<{ readonly name: string; readonly href: string }>;
  readonly progress?: CommandProgress & { status: string };
  readonly result?: any;
  readonly error?: { readonly code: string; readonly message: string };
  readonly href: string;
  readonly webUi: string;
}

/** `container` or `environment`, from a command's workflow id. */
export function kindOf(workflowId: string): 'container' | 'environment' {
  return workflowId.startsWith('environment/') ? 'environment' : 'container';
}
