import { decodeGlobalID } from '@pothos/plugin-relay';
import { sql } from 'drizzle-orm';
import { InvalidInputError, NotFoundError } from '../errors';
import { canSeeProject, isAdmin } from '../identity/auth-context';
import type { ServiceContext } from '../runtime';
import { isUuid } from '../validation';
import { onSamplesRecorded } from './live';
import { checkMeterFor } from './meters';
import type { MeteredType, Sample } from './samples';

/**
 * `subscription metrics`: the samples of chosen meters of chosen resources as the pollers
 * record them. Every resource is resolved to its project when the subscription starts; one
 * the caller may not see is NOT_FOUND (as if it did not exist), admins see all.
 */

const TYPES: readonly MeteredType[] = [
  'server',
  'server_disk',
  'port',
  'volume',
  'network',
  'image',
  'container',
  'project',
];

/** Each type's table and owner column (a server disk is its server's). */
const OWNER: Record<MeteredType, { table: string; project: string; resource: string }> = {
  server: { table: 'servers', project: 'project_id', resource: 'server' },
  server_disk: { table: 'servers', project: 'project_id', resource: 'server' },
  port: { table: 'ports', project: 'project_id', resource: 'port' },
  volume: { table: 'volumes', project: 'project_id', resource: 'volume' },
  network: { table: 'networks', project: 'project_id', resource: 'network' },
  image: { table: 'images', project: 'owner_project_id', resource: 'image' },
  container: { table: 'containers', project: 'project_id', resource: 'container' },
  project: { table: 'projects', project: 'id', resource: 'project' },
};

export const MAX_LIVE_RESOURCES = 100;
export const MAX_LIVE_METERS = 30;

export interface LiveMetricsArgs {
  resourceType: string;
  resourceIds: readonly string[];
  meters: readonly string[];
}

/** A global id (`Server:…` in base64) or a raw id, as the raw id. */
function rawId(id: string): string {
  if (isUuid(id) || id.includes('/')) return id;
  try {
    return decodeGlobalID(id).id;
  } catch {
    return id;
  }
}

/** Checks the arguments and resolves what the caller may watch; typed errors name the field. */
export async function checkLiveMetrics(
  ctx: ServiceContext,
  args: LiveMetricsArgs,
): Promise<{ type: MeteredType; ids: Set<string>; meters: Set<string> }> {
  const type = args.resourceType as MeteredType;
  if (!TYPES.includes(type)) {
    throw new InvalidInputError(
      'resourceType',
      `resourceType must be one of ${TYPES.join(', ')}, got "${args.resourceType}"`,
    );
  }
  if (args.resourceIds.length < 1 || args.resourceIds.length > MAX_LIVE_RESOURCES) {
    throw new InvalidInputError(
      'resourceIds',
      `resourceIds must name 1 to ${MAX_LIVE_RESOURCES} resources`,
    );
  }
  if (args.meters.length < 1 || args.meters.length > MAX_LIVE_METERS) {
    throw new InvalidInputError('meters', `meters must name 1 to ${MAX_LIVE_METERS} meters`);
  }
  args.meters.forEach((meter, i) => {
    checkMeterFor(`meters[${i}]`, meter, type);
  });
  const owner = OWNER[type];
  const ids = args.resourceIds.map(rawId);
  const rowIds = ids.map((id, i) => {
    const row = type === 'server_disk' ? id.split('/')[0] : id;
    const device = type === 'server_disk' ? id.split('/')[1] : '';
    if (!isUuid(row) || (type === 'server_disk' && !/^[a-z]{2,4}$/.test(device ?? ''))) {
      throw new InvalidInputError(
        `resourceIds[${i}]`,
        type === 'server_disk'
          ? `resourceIds[${i}] must be <server id>/<device>, e.g. …/vda; got "${args.resourceIds[i]}"`
          : `resourceIds[${i}] must be a ${owner.resource} id; got "${args.resourceIds[i]}"`,
      );
    }
    return row.toLowerCase();
  });
  const { rows } = await ctx.rt.db.execute<{ id: string; project_id: string | null }>(
    sql`select id::text as id, ${sql.raw(owner.project)}::text as project_id
      from ${sql.raw(owner.table)} where id = any(${sql.param([...new Set(rowIds)])}::uuid[])`,
  );
  const projectOf = new Map(rows.map((r) => [r.id, r.project_id]));
  rowIds.forEach((row, i) => {
    if (!projectOf.has(row) || !canSeeProject(ctx.auth, projectOf.get(row) ?? null)) {
      throw new NotFoundError(owner.resource, args.resourceIds[i]);
    }
  });
  return {
    type,
    ids: new Set(ids.map((id) => id.toLowerCase())),
    meters: new Set(args.meters),
  };
}

/** The matching samples as they are recorded, until the client ends the subscription. */
export async function liveMetrics(
  ctx: ServiceContext,
  args: LiveMetricsArgs,
): Promise<AsyncIterableIterator<Sample>> {
  const watch = await checkLiveMetrics(ctx, args);
  const auth = ctx.auth;
  const queue: Sample[] = [];
  let wake: (() => void) | null = null;
  let done = false;
  const stillAllowed = () =>
    auth !== null && !ctx.rt.tokens.isRevoked(auth) && auth.expiresAt.getTime() > Date.now();
  const unsubscribe = await onSamplesRecorded(ctx.rt.pool, (samples) => {
    for (const s of samples) {
      if (s.resourceType !== watch.type || !watch.meters.has(s.meter)) continue;
      if (!watch.ids.has(s.resourceId)) continue;
      // Owner checked at subscribe time; a sample of another project never passes.
      if (!isAdmin(auth) && !canSeeProject(auth, s.projectId)) continue;
      queue.push(s);
    }
    if (queue.length > 0) wake?.();
  });
  const finish = () => {
    if (done) return;
    done = true;
    unsubscribe();
    wake?.();
  };
  const iterator: AsyncIterableIterator<Sample> = {
    async next() {
      while (!done) {
        if (!stillAllowed()) {
          finish();
          break;
        }
        const sample = queue.shift();
        if (sample) return { value: sample, done: false };
        await new Promise<void>((resolve) => {
          wake = resolve;
          // Re-check the token now and then even when nothing arrives.
          setTimeout(resolve, 5_000).unref();
        });
        wake = null;
      }
      return { value: undefined, done: true };
    },
    async return() {
      finish();
      return { value: undefined, done: true };
    },
    async throw(error?: unknown) {
      finish();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  return iterator;
}
