import type { SlowAction } from './server-states';

/**
 * Job names of server work. A job that must run where the VM is gets the host's suffix
 * (`server.stop@host-a`): only that host's Stratus process registers it, so jobs reach the
 * right hypervisor through the shared queue, with no other routing. Work that can run on any
 * compute host (scheduling a build, deleting a server that never got a host) has no suffix.
 */
export const BUILD_JOB = 'server.build';
export const DELETE_JOB = 'server.delete';
export const actionJob = (action: SlowAction) => `server.${action}`;

/** The job name of `kind` for the process of `host`. */
export const onHost = (kind: string, host: string) => `${kind}@${host}`;

/** Where a job about a server placed on `host` (or on none yet) goes. */
export const jobFor = (kind: string, host: string | null) => (host ? onHost(kind, host) : kind);
