/**
 * Job names of volume work, routed like server jobs (resolvers/compute/jobs.ts): work on an
 * existing volume runs on the host whose volume driver holds it (`volume.delete@host-a`);
 * attach, detach and online extend run on the server's host, where QEMU is. A new volume goes
 * to any process whose backend its type names (`volume.create#file`), or to any volume process
 * when the type names none (`volume.create`).
 */
export const CREATE_JOB = 'volume.create';
export const DELETE_JOB = 'volume.delete';
export const EXTEND_JOB = 'volume.extend';
export const ATTACH_JOB = 'volume.attach';
export const DETACH_JOB = 'volume.detach';
export const SNAPSHOT_JOB = 'volume.snapshot';
export const DELETE_SNAPSHOT_JOB = 'volume.deleteSnapshot';

export const onVolumeHost = (kind: string, host: string) => `${kind}@${host}`;
export const onBackend = (backendName: string) => `${CREATE_JOB}#${backendName}`;

/** The create job for a type naming `backendName` (or any backend). */
export const createJobFor = (backendName: string | null) =>
  backendName ? onBackend(backendName) : CREATE_JOB;

/** Where a job about a volume on `host` goes (unsuffixed when no host holds it yet). */
export const volumeJobFor = (kind: string, host: string | null) =>
  host ? onVolumeHost(kind, host) : kind;

export const CREATE_STAGES = ['creating'];
export const DELETE_STAGES = ['deleting'];
export const EXTEND_STAGES = ['extending-backend', 'resizing-guest-device'];
export const ATTACH_STAGES = ['connecting', 'hot-plugging'];
export const DETACH_STAGES = ['unplugging'];
export const SNAPSHOT_STAGES = ['snapshotting'];
export const DELETE_SNAPSHOT_STAGES = ['deleting'];
