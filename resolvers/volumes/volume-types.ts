import { and, asc, count, eq, inArray, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { DbOrTx } from '../../db/connection';
import { volumes, volumeTypes } from '../../db/tables';
import { authorize } from '../authorize';
import { ConflictError, InvalidInputError, NameTakenError, NotFoundError } from '../errors';
import { publishEvent } from '../events';
import { isAdmin } from '../identity/auth-context';
import { type ListResult, type Page, selectPage } from '../pagination';
import { inTransaction, type ServiceContext } from '../runtime';
import { descriptionSchema, isUuid, parseInput, uniqueViolation } from '../validation';
import { registerTypeQuotas } from './quotas';

export type VolumeTypeRow = typeof volumeTypes.$inferSelect;

/** Cinder's default type name; created by the migration, used when a volume names no type. */
export const DEFAULT_TYPE_NAME = '__DEFAULT__';
/** The extra spec that maps a type to a backend (STRATUS_VOLUME_BACKEND_NAME of a process). */
export const BACKEND_SPEC = 'volume_backend_name';

/** Types the caller may use: public ones; admins also see private ones (no type access lists yet). */
function visibleWhere(ctx: ServiceContext): SQL | undefined {
  return isAdmin(ctx.auth) ? undefined : eq(volumeTypes.isPublic, true);
}

export async function listVolumeTypes(
  ctx: ServiceContext,
  page: Page,
): Promise<ListResult<VolumeTypeRow>> {
  authorize(ctx, 'volume:list_types');
  return selectPage(
    ctx.rt.db,
    volumeTypes,
    visibleWhere(ctx),
    { column: volumeTypes.name, direction: 'ASC', tiebreak: volumeTypes.id },
    page,
  );
}

export async function loadVolumeTypes(
  ctx: ServiceContext,
  ids: readonly string[],
): Promise<Array<VolumeTypeRow | null>> {
  const valid = ids.filter(isUuid);
  if (!ctx.auth || valid.length === 0) return ids.map(() => null);
  const rows = await ctx.rt.db
    .select()
    .from(volumeTypes)
    .where(and(inArray(volumeTypes.id, valid), visibleWhere(ctx)));
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => byId.get(id) ?? null);
}

/** The type a new volume gets: the one named (visible to the caller), or `__DEFAULT__`. */
export async function typeForNewVolume(
  ctx: ServiceContext,
  id: string | null | undefined,
  field: string,
): Promise<VolumeTypeRow> {
  if (id) {
    const [row] = await loadVolumeTypes(ctx, [id]);
    if (!row) throw new InvalidInputError(field, `${field}: no volume type with id "${id}"`);
    return row;
  }
  const [row] = await ctx.rt.db
    .select()
    .from(volumeTypes)
    .where(eq(volumeTypes.name, DEFAULT_TYPE_NAME));
  if (!row) throw new InvalidInputError(field, `${field}: the default volume type is missing`);
  return row;
}

/** Every type's per-type quota resources (at start, so setProjectQuota knows them). */
export async function registerAllTypeQuotas(
  db: DbOrTx,
  defaults: Record<string, number>,
): Promise<void> {
  const rows = await db
    .select({ name: volumeTypes.name })
    .from(volumeTypes)
    .orderBy(asc(volumeTypes.name));
  for (const r of rows) registerTypeQuotas(defaults, r.name);
}

// Type names become quota resource names (volumes_<type>): letters, digits and _ . - only.
const typeNameSchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, "_", "." or "-"');
const extraSpecsSchema = z
  .record(z.string().min(1).max(255), z.string().max(255))
  .refine((m) => Object.keys(m).length <= 64, 'may hold at most 64 items');

const createInput = z.object({
  name: typeNameSchema,
  description: descriptionSchema.nullish(),
  isPublic: z.boolean().nullish(),
  extraSpecs: extraSpecsSchema.nullish(),
});

function typeEvent(tx: Parameters<typeof publishEvent>[0], kind: string, row: VolumeTypeRow) {
  return publishEvent(tx, {
    kind,
    projectId: null,
    resourceType: 'VolumeType',
    resourceId: row.id,
    payload: { name: row.name, isPublic: row.isPublic },
  });
}

function nameTaken(error: unknown, name: string): never {
  if (uniqueViolation(error) === 'volume_types_name_key') {
    throw new NameTakenError('volume type', name);
  }
  throw error;
}

/** Creates a volume type (admin). */
export async function createVolumeType(ctx: ServiceContext, input: unknown) {
  authorize(ctx, 'volume:manage_types');
  const data = parseInput(createInput, input);
  const row = await inTransaction(ctx.rt, async (tx) => {
    const [created] = await tx
      .insert(volumeTypes)
      .values({
        name: data.name,
        description: data.description ?? '',
        isPublic: data.isPublic ?? true,
        extraSpecs: data.extraSpecs ?? {},
      })
      .returning();
    await typeEvent(tx, 'VOLUME_TYPE_CREATED', created);
    return created;
  }).catch((error: unknown) => nameTaken(error, data.name));
  registerTypeQuotas(ctx.rt.config.quotaDefaults, row.name);
  return row;
}

const updateInput = z.object({
  id: z.string(),
  name: typeNameSchema.nullish(),
  description: descriptionSchema.nullish(),
  isPublic: z.boolean().nullish(),
  extraSpecs: extraSpecsSchema.nullish(),
});

async function volumesOfType(tx: DbOrTx, typeId: string): Promise<number> {
  const [c] = await tx.select({ n: count() }).from(volumes).where(eq(volumes.volumeTypeId, typeId));
  return c.n;
}

/**
 * Changes a type (admin). Its name and backend are fixed while volumes use it: per-type quotas
 * are kept under the name, and existing volumes stay where they are.
 */
export async function updateVolumeType(ctx: ServiceContext, input: unknown) {
  authorize(ctx, 'volume:manage_types');
  const data = parseInput(updateInput, input);
  const row = await inTransaction(ctx.rt, async (tx) => {
    const [current] = isUuid(data.id)
      ? await tx.select().from(volumeTypes).where(eq(volumeTypes.id, data.id)).for('update')
      : [];
    if (!current) throw new NotFoundError('volume type', data.id);
    const renamed = data.name != null && data.name !== current.name;
    const rebacked =
      data.extraSpecs != null &&
      (data.extraSpecs[BACKEND_SPEC] ?? null) !== (current.extraSpecs[BACKEND_SPEC] ?? null);
    if (renamed && current.name === DEFAULT_TYPE_NAME) {
      throw new InvalidInputError('input.name', `The ${DEFAULT_TYPE_NAME} type cannot be renamed`);
    }
    const n = renamed || rebacked ? await volumesOfType(tx, current.id) : 0;
    if (n > 0) {
      throw new ConflictError(
        `Volume type ${current.name} is used by ${n} volume(s): its name and ${BACKEND_SPEC} cannot change`,
      );
    }
    const [updated] = await tx
      .update(volumeTypes)
      .set({
        ...(data.name != null ? { name: data.name } : {}),
        ...(data.description != null ? { description: data.description } : {}),
        ...(data.isPublic != null ? { isPublic: data.isPublic } : {}),
        ...(data.extraSpecs != null ? { extraSpecs: data.extraSpecs } : {}),
      })
      .where(eq(volumeTypes.id, current.id))
      .returning();
    await typeEvent(tx, 'VOLUME_TYPE_UPDATED', updated);
    return updated;
  }).catch((error: unknown) => nameTaken(error, data.name ?? ''));
  registerTypeQuotas(ctx.rt.config.quotaDefaults, row.name);
  return row;
}

/** Deletes a type (admin) no volume uses; the default type stays. */
export async function deleteVolumeType(ctx: ServiceContext, id: string) {
  authorize(ctx, 'volume:manage_types');
  return inTransaction(ctx.rt, async (tx) => {
    const [current] = isUuid(id)
      ? await tx.select().from(volumeTypes).where(eq(volumeTypes.id, id)).for('update')
      : [];
    if (!current) throw new NotFoundError('volume type', id);
    if (current.name === DEFAULT_TYPE_NAME) {
      throw new ConflictError(`The ${DEFAULT_TYPE_NAME} volume type cannot be deleted`);
    }
    const n = await volumesOfType(tx, current.id);
    if (n > 0) throw new ConflictError(`Volume type ${current.name} is used by ${n} volume(s)`);
    await tx.delete(volumeTypes).where(eq(volumeTypes.id, current.id));
    await typeEvent(tx, 'VOLUME_TYPE_DELETED', current);
    return current;
  });
}
