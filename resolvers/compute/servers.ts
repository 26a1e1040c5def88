import { and, eq, gt, ilike, inArray, isNull, notInArray, or, type SQL, sql } from 'drizzle-orm';
import { z } from 'zod';
import { computeHosts, type FlavorSnapshot, servers } from '../../db/tables';
import { InstanceNotFoundError } from '../../drivers/compute/errors';
import { authorize } from '../authorize';
import { FeatureDisabledError, InvalidInputError, NotFoundError } from '../errors';
import { canSeeProject, isAdmin, scopedProjectId } from '../identity/auth-context';
import type { ImageRow } from '../images/access';
import { loadImages } from '../images/images';
import { createServerPorts } from '../networks/server-ports';
import { type OperationRow, startOperation } from '../operations';
import { containsPattern, type ListResult, type Page, selectPage } from '../pagination';
import { reserveQuota } from '../quotas';
import { inTransaction, type ServiceContext } from '../runtime';
import { isUuid, nameSchema, parseInput } from '../validation';
import { baremetalClassOf, checkBaremetalRequest } from './baremetal-servers';
import { blockDeviceMappingSchema, planBootVolume, startBootVolume } from './boot-volume';
import { type FlavorRow, loadFlavors } from './flavors';
import { recordAction } from './instance-actions';
import { BUILD_JOB } from './jobs';
import { loadKeypairs } from './keypairs';
import { hostDeadline } from './scheduler';
import { publishServerEvent } from './server-events';
import { loadServerGroups } from './server-groups';
import { BUILD_STAGES, type ServerRow, type ServerStatus, statusCondition } from './server-states';

export type { ServerRow };

const GIB = 1024 ** 3;
/** Nova's limits: user data 64 KiB, metadata 128 items of 255 characters. */
export const USER_DATA_MAX_BYTES = 65_536;

export interface ServerFilter {
  status?: ServerStatus | null;
  name?: string | null;
  imageId?: string | null;
  flavorId?: string | null;
  changedSince?: Date | null;
  tags?: string[] | null;
  host?: string | null;
  /** Admins: every project's servers (Nova's all_tenants). */
  allProjects?: boolean | null;
  projectId?: string | null;
  includeDeleted?: boolean | null;
}

/** Servers of the caller's project (admins: any project, or all), newest first. */
export async function listServers(
  ctx: ServiceContext,
  filter: ServerFilter,
  page: Page,
): Promise<ListResult<ServerRow>> {
  authorize(ctx, 'compute:list_servers');
  const admin = isAdmin(ctx.auth);
  const own = scopedProjectId(ctx.auth);
  let projectWhere: SQL | undefined;
  if (admin && filter.projectId) projectWhere = eq(servers.projectId, filter.projectId);
  else if (admin && filter.allProjects) projectWhere = undefined;
  else if (own) projectWhere = eq(servers.projectId, own);
  else return { rows: [], totalCount: 0 };
  if (filter.projectId && !isUuid(filter.projectId)) return { rows: [], totalCount: 0 };
  const status = filter.status ? statusCondition(filter.status) : null;
  const where = and(
    projectWhere,
    status ? inArray(servers.vmState, status.vmStates) : undefined,
    status?.taskStates ? inArray(servers.taskState, status.taskStates) : undefined,
    status?.excludeTaskStates
      ? or(isNull(servers.taskState), notInArray(servers.taskState, status.excludeTaskStates))
      : undefined,
    // Deleted servers are listed only when asked for (or by status DELETED / changedSince, as in Nova).
    filter.includeDeleted || filter.status === 'DELETED' || filter.changedSince
      ? undefined
      : sql`${servers.vmState} <> 'deleted'`,
    filter.name != null ? ilike(servers.name, containsPattern(filter.name)) : undefined,
    filter.imageId != null ? eq(servers.imageId, filter.imageId) : undefined,
    filter.flavorId != null ? eq(servers.flavorId, filter.flavorId) : undefined,
    filter.changedSince ? gt(servers.updatedAt, filter.changedSince) : undefined,
    filter.tags?.length ? sql`${servers.tags} @> ${JSON.stringify(filter.tags)}::jsonb` : undefined,
    filter.host != null && admin ? eq(servers.host, filter.host) : undefined,
  );
  return selectPage(
    ctx.rt.db,
    servers,
    where,
    { column: servers.createdAt, direction: 'DESC', tiebreak: servers.id },
    page,
  );
}

/** Servers by id, null where the caller may not see one (deleted ones stay readable, as in Nova). */
export async function loadServers(
  ctx: ServiceContext,
  ids: readonly string[],
): Promise<Array<ServerRow | null>> {
  const valid = ids.filter(isUuid);
  if (!ctx.auth || valid.length === 0) return ids.map(() => null);
  const rows = await ctx.rt.db.select().from(servers).where(inArray(servers.id, valid));
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => {
    const row = byId.get(id) ?? null;
    return row && canSeeProject(ctx.auth, row.projectId) ? row : null;
  });
}

/** A server the caller may see, or NotFoundError. */
export async function visibleServer(ctx: ServiceContext, id: string): Promise<ServerRow> {
  const [row] = await loadServers(ctx, [id]);
  if (!row) throw new NotFoundError('server', id);
  return row;
}

export const metadataSchema = z
  .record(
    z.string().min(1).max(255, 'keys must be at most 255 characters'),
    z.string().max(255, 'values must be at most 255 characters'),
  )
  .refine((m) => Object.keys(m).length <= 128, 'may hold at most 128 items');
export const tagsSchema = z
  .array(
    z
      .string()
      .min(1)
      .max(60, 'tags must be at most 60 characters')
      .regex(/^[^,/]*$/, 'tags must not contain "," or "/"'),
  )
  .max(50, 'may hold at most 50 tags');

const createInput = z.object({
  name: nameSchema,
  // Optional with a boot volume (Nova's image "" for a volume-backed server).
  imageId: z.string().nullish(),
  flavorId: z.string(),
  keypairId: z.string().nullish(),
  userData: z
    .string()
    .refine(
      (s) => Buffer.byteLength(s) <= USER_DATA_MAX_BYTES,
      `must be at most ${USER_DATA_MAX_BYTES} bytes`,
    )
    .nullish(),
  metadata: metadataSchema.nullish(),
  tags: tagsSchema.nullish(),
  serverGroupId: z.string().nullish(),
  availabilityZone: z.string().min(1).max(255).nullish(),
  count: z.number().int().min(1, 'must be at least 1').max(100, 'must be at most 100').nullish(),
  // Nova's `networks`: a new port on a network (optionally with a fixed IP), or a port to use.
  networks: z
    .array(
      z.union([
        z.object({ portId: z.string() }).strict(),
        z.object({ networkId: z.string(), fixedIp: z.string().nullish() }).strict(),
      ]),
    )
    .max(16, 'at most 16 NICs')
    .nullish(),
  blockDeviceMappings: z.array(blockDeviceMappingSchema).nullish(),
});

export interface CreatedServers {
  servers: ServerRow[];
  operations: OperationRow[];
}

/** The values a server copies from its flavor, so it keeps them if the flavor is deleted. */
export function flavorSnapshot(flavor: FlavorRow): FlavorSnapshot {
  return {
    flavorId: flavor.id,
    name: flavor.name,
    vcpus: flavor.vcpus,
    ramMib: flavor.ramMib,
    rootDiskGib: flavor.rootDiskGib,
    ephemeralGib: flavor.ephemeralGib,
    swapMib: flavor.swapMib,
    baremetalClass: baremetalClassOf(flavor.extraSpecs),
  };
}

/**
 * Whether servers can be built: this process runs a compute host, or another live one is
 * registered on the database; FeatureDisabledError naming why not.
 */
export async function requireCompute(ctx: ServiceContext): Promise<void> {
  if (ctx.rt.jobKinds.has(BUILD_JOB)) return;
  const [live] = await ctx.rt.db
    .select({ hostname: computeHosts.hostname })
    .from(computeHosts)
    .where(and(eq(computeHosts.enabled, true), gt(computeHosts.lastSeenAt, hostDeadline())))
    .limit(1);
  if (live) return;
  throw new FeatureDisabledError(
    'Compute',
    ctx.rt.computeUnavailable ?? 'no compute host is running; start Stratus with a compute driver',
  );
}

/** Checks an image can boot a server of `flavor`; the error names `field`. */
export async function bootableImage(
  ctx: ServiceContext,
  imageId: string,
  flavor: Pick<FlavorRow, 'ramMib' | 'rootDiskGib'>,
  field: string,
): Promise<{ image: ImageRow; kernel: ImageRow | null; ramdisk: ImageRow | null }> {
  const [image] = await loadImages(ctx, [imageId]);
  if (!image) throw new InvalidInputError(field, `${field}: no image with id "${imageId}"`);
  if (image.status !== 'active') {
    throw new InvalidInputError(field, `Image ${imageId} is not active (status ${image.status})`);
  }
  if (image.diskFormat === 'aki' || image.diskFormat === 'ari' || image.diskFormat === 'iso') {
    throw new InvalidInputError(
      field,
      `Image ${imageId} has disk format ${image.diskFormat} and cannot be a root disk; boot an ami, raw or qcow2 image`,
    );
  }
  if (image.minRamMib > flavor.ramMib) {
    throw new InvalidInputError(
      field,
      `Flavor's memory (${flavor.ramMib} MiB) is too small for image ${imageId} (min_ram ${image.minRamMib} MiB)`,
    );
  }
  const needBytes = Math.max(
    image.virtualSizeBytes ?? image.sizeBytes ?? 0,
    image.minDiskGib * GIB,
  );
  if (flavor.rootDiskGib > 0 && needBytes > flavor.rootDiskGib * GIB) {
    throw new InvalidInputError(
      field,
      `Flavor's disk (${flavor.rootDiskGib} GiB) is too small for image ${imageId} (needs ${Math.ceil(needBytes / GIB)} GiB)`,
    );
  }
  const companion = async (key: 'kernel_id' | 'ramdisk_id', format: 'aki' | 'ari') => {
    const id = image.properties[key];
    if (!id) return null;
    const [row] = await loadImages(ctx, [id]);
    if (row?.status !== 'active' || row.diskFormat !== format) {
      throw new InvalidInputError(
        field,
        `Image ${imageId} names ${key} "${id}", which is not an active ${format} image you may use`,
      );
    }
    return row;
  };
  return {
    image,
    kernel: await companion('kernel_id', 'aki'),
    ramdisk: await companion('ramdisk_id', 'ari'),
  };
}

/**
 * Nova's createServer: checks everything that can be checked at once, reserves quota
 * (instances, cores, RAM) for all `count` servers atomically, stores them in BUILD and starts
 * one build job each. Any failure leaves nothing: no rows, no quota, no job.
 */
export async function createServers(ctx: ServiceContext, input: unknown): Promise<CreatedServers> {
  authorize(ctx, 'compute:create_server');
  const data = parseInput(createInput, input);
  const projectId = scopedProjectId(ctx.auth);
  if (!projectId) throw new InvalidInputError('input', 'A token scoped to a project is required');
  await requireCompute(ctx);
  const [flavor] = isUuid(data.flavorId) ? await loadFlavors(ctx, [data.flavorId]) : [null];
  if (!flavor) {
    throw new InvalidInputError('input.flavorId', `No flavor with id "${data.flavorId}"`);
  }
  const count = data.count ?? 1;
  const bootVolume = await planBootVolume(ctx, data.blockDeviceMappings ?? [], {
    projectId,
    imageId: data.imageId ?? null,
    count,
    flavor,
  });
  if (!bootVolume && !data.imageId) {
    throw new InvalidInputError('input.imageId', 'input.imageId is required without a boot volume');
  }
  // A volume-backed server has no image of its own (Server.image is null, as Nova's "").
  const { image, kernel, ramdisk } =
    bootVolume ?? (await bootableImage(ctx, data.imageId!, flavor, 'input.imageId'));
  let keypair = null;
  if (data.keypairId) {
    [keypair] = await loadKeypairs(ctx, [data.keypairId]);
    if (!keypair) {
      throw new InvalidInputError('input.keypairId', `No keypair with id "${data.keypairId}"`);
    }
  }
  if (data.serverGroupId) {
    const [group] = await loadServerGroups(ctx, [data.serverGroupId]);
    if (!group || group.projectId !== projectId) {
      throw new InvalidInputError(
        'input.serverGroupId',
        `No server group with id "${data.serverGroupId}" in your project`,
      );
    }
  }
  const nics = data.networks ?? [];
  checkBaremetalRequest(flavor.extraSpecs, {
    networks: nics.length,
    blockDeviceMappings: bootVolume ? 1 : 0,
  });
  if (count > 1 && nics.some((n) => 'portId' in n || n.fixedIp)) {
    throw new InvalidInputError(
      'input.networks',
      'A port or a fixed IP can serve only one server: use count 1, or give networks only',
    );
  }
  return inTransaction(ctx.rt, async (tx) => {
    await reserveQuota(tx, ctx.rt.config.quotaDefaults, projectId, {
      instances: count,
      cores: flavor.vcpus * count,
      ram_mib: flavor.ramMib * count,
    });
    const created: CreatedServers = { servers: [], operations: [] };
    for (let i = 0; i < count; i++) {
      const [row] = await tx
        .insert(servers)
        .values({
          projectId,
          userId: ctx.auth!.userId,
          // Nova names several servers from one request name-1, name-2, ...
          name: count > 1 ? `${data.name}-${i + 1}` : data.name,
          vmState: 'building',
          taskState: 'scheduling',
          imageId: bootVolume ? null : image!.id,
          kernelImageId: kernel?.id ?? null,
          ramdiskImageId: ramdisk?.id ?? null,
          flavorId: flavor.id,
          flavor: flavorSnapshot(flavor),
          keyName: keypair?.name ?? null,
          keyData: keypair?.publicKey ?? null,
          userData: data.userData ?? null,
          metadata: data.metadata ?? {},
          tags: data.tags ?? [],
          serverGroupId: data.serverGroupId ?? null,
          availabilityZone: data.availabilityZone ?? null,
        })
        .returning();
      if (nics.length > 0) {
        await createServerPorts(tx, ctx, {
          projectId,
          serverId: row.id,
          requests: nics,
          availabilityZone: data.availabilityZone,
        });
      }
      const action = await recordAction(tx, {
        serverId: row.id,
        projectId,
        userId: ctx.auth!.userId,
        action: 'create',
        requestId: ctx.requestId,
      });
      const boot = bootVolume ? await startBootVolume(ctx, tx, bootVolume, projectId) : null;
      const operation = await startOperation(tx, {
        kind: BUILD_JOB,
        projectId,
        createdByUserId: ctx.auth!.userId,
        resourceType: 'Server',
        resourceId: row.id,
        stageNames: BUILD_STAGES,
        input: { serverId: row.id, actionId: action.id, ...(boot ? { bootVolume: boot } : {}) },
      });
      await publishServerEvent(tx, 'SERVER_CREATED', row);
      created.servers.push(row);
      created.operations.push(operation);
    }
    return created;
  });
}

/**
 * The guest's serial console (Nova's os-getConsoleOutput), the last `lastLines` lines when
 * given. Read from this host's driver; a server never spawned has none yet.
 */
export async function consoleOutput(
  ctx: ServiceContext,
  server: ServerRow,
  lastLines: number | null,
): Promise<string> {
  authorize(ctx, 'compute:console_output');
  if (lastLines !== null && (!Number.isInteger(lastLines) || lastLines < 1 || lastLines > 10_000)) {
    throw new InvalidInputError('lastLines', 'lastLines must be an integer from 1 to 10000');
  }
  const agent = ctx.rt.compute;
  if (!agent) {
    throw new FeatureDisabledError(
      'Console output',
      ctx.rt.computeUnavailable ?? 'this process runs no compute host',
    );
  }
  if (!server.host) return '';
  if (server.host !== agent.hostname) {
    throw new FeatureDisabledError(
      `Console output of servers on host ${server.host}`,
      `ask the Stratus process of that host (this one runs ${agent.hostname})`,
    );
  }
  return agent.driver.consoleLog(server.id, lastLines ?? undefined).catch((error: unknown) => {
    if (error instanceof InstanceNotFoundError) return '';
    throw error;
  });
}
