import { inArray } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { DbOrTx } from '../../db/connection';
import { containers, images, networks, ports, projects, servers, volumes } from '../../db/tables';
import { NotFoundError } from '../errors';
import { canSeeProject } from '../identity/auth-context';
import type { ServiceContext } from '../runtime';
import { isUuid } from '../validation';
import type { MeteredType } from './samples';

/** Each metered type's table and the column that says whose it is. */
const OWNERS: Record<
  Exclude<MeteredType, 'server_disk'>,
  { table: PgTable; id: PgColumn; project: PgColumn; resource: string }
> = {
  server: { table: servers, id: servers.id, project: servers.projectId, resource: 'server' },
  port: { table: ports, id: ports.id, project: ports.projectId, resource: 'port' },
  volume: { table: volumes, id: volumes.id, project: volumes.projectId, resource: 'volume' },
  network: { table: networks, id: networks.id, project: networks.projectId, resource: 'network' },
  image: { table: images, id: images.id, project: images.ownerProjectId, resource: 'image' },
  container: {
    table: containers,
    id: containers.id,
    project: containers.projectId,
    resource: 'container',
  },
  project: { table: projects, id: projects.id, project: projects.id, resource: 'project' },
};

/** The row id behind a metered resource id (a server disk `<serverId>/vda` belongs to its server). */
function rowId(type: MeteredType, resourceId: string): string {
  return type === 'server_disk' ? resourceId.split('/')[0] : resourceId;
}

/**
 * Checks that every resource exists and that the caller may see it (alarms watch only what
 * their owner can see); NotFoundError naming the first one that fails.
 */
export async function checkAlarmResources(
  ctx: ServiceContext,
  db: DbOrTx,
  type: MeteredType,
  resourceIds: readonly string[],
): Promise<void> {
  const owner = OWNERS[type === 'server_disk' ? 'server' : type];
  const ids = [...new Set(resourceIds.map((id) => rowId(type, id)))];
  const bad = resourceIds.find((id) => !isUuid(rowId(type, id)));
  if (bad !== undefined) throw new NotFoundError(owner.resource, bad);
  const rows = (await db
    .select({ id: owner.id, projectId: owner.project })
    .from(owner.table)
    .where(inArray(owner.id, ids))) as Array<{ id: string; projectId: string | null }>;
  const byId = new Map(rows.map((r) => [r.id, r.projectId]));
  for (const id of resourceIds) {
    const key = rowId(type, id);
    if (!byId.has(key) || !canSeeProject(ctx.auth, byId.get(key) ?? null))
      throw new NotFoundError(owner.resource, id);
  }
}
