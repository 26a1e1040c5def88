import { eq, sql } from 'drizzle-orm';
import { volumes, volumeTypes } from '../../../../db/tables';
import { listImages, loadImages } from '../../../images/images';
import { isUuid } from '../../../validation';
import { loadVolumeTypes } from '../../../volumes/volume-types';
import { loadVolumes, type VolumeRow } from '../../../volumes/volumes';
import { idOf } from '../ids';
import type { ResourceContext } from '../plugin';
import { badProperty } from './props';

/** Heat accepts names or ids for images and volume types: resolved within what the owner sees. */

export async function imageIdFor(ctx: ResourceContext, ref: string, prop: string): Promise<string> {
  const id = idOf(ref);
  if (id) {
    const [row] = await loadImages(ctx.svc, [id]);
    if (row) return row.id;
  }
  const found = await listImages(ctx.svc, { name: ref }, { limit: 2, offset: 0 });
  if (found.rows.length === 1) return found.rows[0].id;
  if (found.rows.length > 1)
    throw badProperty(ctx, prop, `several images are named "${ref}"; give its id`);
  throw badProperty(ctx, prop, `no image "${ref}" (name or id) that this project may use`);
}

export async function volumeTypeIdFor(
  ctx: ResourceContext,
  ref: string,
  prop: string,
): Promise<string> {
  if (isUuid(ref)) {
    const [row] = await loadVolumeTypes(ctx.svc, [ref]);
    if (row) return row.id;
  }
  // No by-name service: read the type by name, then load it as the owner (visibility).
  const named = await ctx.svc.rt.db
    .select({ id: volumeTypes.id })
    .from(volumeTypes)
    .where(sql`lower(${volumeTypes.name}) = lower(${ref})`);
  const [row] = named.length ? await loadVolumeTypes(ctx.svc, [named[0].id]) : [null];
  if (!row) throw badProperty(ctx, prop, `no volume type "${ref}" (name or id)`);
  return row.id;
}

export async function volumeTypeName(ctx: ResourceContext, id: string): Promise<string> {
  const [row] = await ctx.svc.rt.db
    .select({ name: volumeTypes.name })
    .from(volumeTypes)
    .where(eq(volumeTypes.id, id));
  return row?.name ?? id;
}

/** The volume row, or null when it is gone (or the owner may no longer see it). */
export async function volumeRow(
  ctx: ResourceContext,
  id: string | null,
): Promise<VolumeRow | null> {
  if (!id || !isUuid(id)) return null;
  const [row] = await loadVolumes(ctx.svc, [id]);
  return row;
}

/** A volume the owner may see, by id or (Heat allows it) by name within the project. */
export async function volumeIdFor(
  ctx: ResourceContext,
  ref: string,
  prop: string,
): Promise<string> {
  const byId = await volumeRow(ctx, ref);
  if (byId) return byId.id;
  const named = await ctx.svc.rt.db
    .select({ id: volumes.id })
    .from(volumes)
    .where(sql`${volumes.projectId} = ${ctx.stack.projectId} and ${volumes.name} = ${ref}`);
  if (named.length === 1) return named[0].id;
  if (named.length > 1)
    throw badProperty(ctx, prop, `several volumes are named "${ref}"; give its id`);
  throw badProperty(ctx, prop, `no volume "${ref}" (name or id) in this project`);
}
