import { ConflictError, NotFoundError, StratusError } from '../../../errors';
import {
  createImage,
  deleteImage,
  type ImageRow,
  importImage,
  loadImages,
  updateImage,
} from '../../../images/images';
import { isUuid } from '../../../validation';
import {
  asProperties,
  badProperty,
  optBool,
  optInt,
  optString,
  optStringList,
  optStringMap,
  type Props,
} from '../nova/props';
import type {
  Progress,
  PropertySpec,
  ResourceContext,
  ResourcePlugin,
  ResourceState,
} from '../plugin';

/**
 * OS::Glance::WebImage and the older OS::Glance::Image. Stratus downloads nothing at run
 * time, so `location` may only be a Stratus image's own data URL
 * (`<Stratus URL>/v2/images/<id>/file`): the new image is then imported from it inside the
 * object store (importImage). Any other URL is refused, naming the property. Without a
 * location (Stratus lets it be left out) the image is created `queued`, as Glance does,
 * for its data to be uploaded later. Heat's `id` (choosing the image id) is not supported.
 */

/** What each Heat property becomes in the image's free-form properties. */
const PROPERTY_KEYS = ['architecture', 'os_distro', 'os_version', 'kernel_id', 'ramdisk_id'];

const FIELDS = {
  name: 'name',
  diskFormat: 'disk_format',
  containerFormat: 'container_format',
  minDiskGib: 'min_disk',
  minRamMib: 'min_ram',
  protected: 'protected',
  tags: 'tags',
  properties: 'extra_properties',
  visibility: 'visibility',
  sourceImageId: 'location',
};

const common: Record<string, PropertySpec> = {
  name: { type: 'string', updateAllowed: true },
  id: { type: 'string' },
  disk_format: { type: 'string', required: true },
  container_format: { type: 'string', required: true },
  location: { type: 'string' },
  min_disk: { type: 'integer', default: 0, updateAllowed: true },
  min_ram: { type: 'integer', default: 0, updateAllowed: true },
  protected: { type: 'boolean', default: false, updateAllowed: true },
  tags: { type: 'list', default: [], updateAllowed: true },
  architecture: { type: 'string', updateAllowed: true },
  os_distro: { type: 'string', updateAllowed: true },
  kernel_id: { type: 'string', updateAllowed: true },
  ramdisk_id: { type: 'string', updateAllowed: true },
  owner: { type: 'string' },
};

const webImageProperties: Record<string, PropertySpec> = {
  ...common,
  os_version: { type: 'string', updateAllowed: true },
  visibility: { type: 'string', default: 'private', updateAllowed: true },
  active: { type: 'boolean', default: true },
  extra_properties: { type: 'map', default: {}, updateAllowed: true },
};

const imageProperties: Record<string, PropertySpec> = {
  ...common,
  is_public: { type: 'boolean', default: false, updateAllowed: true },
  extra_properties: { type: 'map', default: {}, updateAllowed: true },
};

/** The image whose own data URL `location` is, or an error naming `location`. */
function sourceOf(ctx: ResourceContext, location: string): string {
  const base = ctx.svc.baseUrl.replace(/\/+$/, '');
  const match = location.startsWith(`${base}/v2/images/`)
    ? /^\/v2\/images\/([^/]+)\/file$/.exec(location.slice(base.length))
    : null;
  if (!match || !isUuid(match[1])) {
    throw badProperty(
      ctx,
      'location',
      `Stratus does not download images at run time; give a Stratus image's data URL (${base}/v2/images/<id>/file) to import from, or leave location out and upload the data to the image's uploadUrl`,
    );
  }
  return match[1];
}

function imageProps(ctx: ResourceContext, props: Props): Record<string, string> {
  const out: Record<string, string> = { ...(optStringMap(ctx, props, 'extra_properties') ?? {}) };
  for (const key of PROPERTY_KEYS) {
    const value = optString(ctx, props, key);
    if (value) out[key] = value;
  }
  return out;
}

function metadata(ctx: ResourceContext, props: Props, web: boolean) {
  const visibility = web
    ? (optString(ctx, props, 'visibility') ?? 'private')
    : optBool(ctx, props, 'is_public')
      ? 'public'
      : 'private';
  return {
    name: optString(ctx, props, 'name') || ctx.physicalName,
    visibility,
    minDiskGib: optInt(ctx, props, 'min_disk') ?? 0,
    minRamMib: optInt(ctx, props, 'min_ram') ?? 0,
    protected: optBool(ctx, props, 'protected') ?? false,
    tags: optStringList(ctx, props, 'tags') ?? [],
    properties: imageProps(ctx, props),
  };
}

function check(ctx: ResourceContext, props: Props, web: boolean) {
  if (optString(ctx, props, 'id')) {
    throw badProperty(ctx, 'id', 'choosing the image id is not supported by Stratus');
  }
  const owner = optString(ctx, props, 'owner');
  if (owner && owner !== ctx.stack.projectId) {
    throw badProperty(ctx, 'owner', "a stack's images belong to the stack's project");
  }
  if (web && optBool(ctx, props, 'active') === false) {
    throw badProperty(ctx, 'active', 'creating a deactivated image is not supported');
  }
  const location = optString(ctx, props, 'location');
  return {
    meta: metadata(ctx, props, web),
    diskFormat: optString(ctx, props, 'disk_format'),
    containerFormat: optString(ctx, props, 'container_format'),
    sourceId: location ? sourceOf(ctx, location) : null,
  };
}

async function readImage(ctx: ResourceContext, id: string | null): Promise<ImageRow | null> {
  return id ? ((await loadImages(ctx.svc, [id]))[0] ?? null) : null;
}

/** The import failed, or the image was killed: the engine fails the resource with this. */
export class ImageFailedError extends StratusError {
  constructor(message: string) {
    super('CONFLICT', message);
  }
}

function plugin(type: string, web: boolean): ResourcePlugin {
  return {
    type,
    properties: web ? webImageProperties : imageProperties,
    attributes: [],
    physicalType: 'Image',
    async validate(ctx, props) {
      const { sourceId } = check(ctx, props, web);
      if (sourceId && !(await readImage(ctx, sourceId))) {
        throw badProperty(ctx, 'location', `no image with id "${sourceId}"`);
      }
    },
    async create(ctx, props) {
      const { meta, diskFormat, containerFormat, sourceId } = check(ctx, props, web);
      if (!sourceId) {
        const row = await asProperties(ctx, FIELDS, () =>
          createImage(ctx.svc, { ...meta, diskFormat, containerFormat }),
        );
        return { physicalId: row.id };
      }
      const source = await readImage(ctx, sourceId);
      if (!source) throw badProperty(ctx, 'location', `no image with id "${sourceId}"`);
      if (source.diskFormat !== diskFormat || source.containerFormat !== containerFormat) {
        throw badProperty(
          ctx,
          'disk_format',
          `the image at location is ${source.diskFormat}/${source.containerFormat}, not ${diskFormat}/${containerFormat}`,
        );
      }
      const { image } = await asProperties(ctx, FIELDS, () =>
        importImage(ctx.svc, { sourceImageId: sourceId, name: meta.name }),
      );
      // Imported images start private with the source's metadata: the template's apply now.
      await asProperties(ctx, FIELDS, () => updateImage(ctx.svc, { id: image.id, ...meta })).catch(
        async (error: unknown) => {
          await deleteImage(ctx.svc, image.id).catch(() => undefined);
          throw error;
        },
      );
      return { physicalId: image.id, data: { imported: true } };
    },
    async checkCreateComplete(ctx, state): Promise<Progress> {
      if (!state.data.imported) return { done: true };
      const row = await readImage(ctx, state.physicalId);
      if (!row) throw new ImageFailedError(`Image ${state.physicalId} disappeared while importing`);
      if (row.status === 'killed') {
        throw new ImageFailedError(
          `Importing image ${row.id} failed: ${row.failureReason ?? 'no reason recorded'}`,
        );
      }
      if (row.status !== 'active') return { done: false, reason: `image is ${row.status}` };
      return { done: true };
    },
    async update(ctx, state, props) {
      const row = await readImage(ctx, state.physicalId);
      if (!row) throw new NotFoundError('image', state.physicalId ?? '');
      const meta = metadata(ctx, props, web);
      // Keep properties the template never set (an imported image's own).
      const before = imageProps(ctx, state.properties);
      const kept = Object.fromEntries(
        Object.entries(row.properties).filter(([k]) => !(k in before)),
      );
      await asProperties(ctx, FIELDS, () =>
        updateImage(ctx.svc, {
          id: row.id,
          ...meta,
          // Only admins may set public; leave an unchanged visibility out of the request.
          visibility: meta.visibility === row.visibility ? undefined : meta.visibility,
          properties: { ...kept, ...meta.properties },
        }),
      );
      return { kind: 'updated' };
    },
    async delete(ctx, state) {
      await deleteIfIdle(ctx, state);
    },
    async checkDeleteComplete(ctx, state): Promise<Progress> {
      const row = await readImage(ctx, state.physicalId);
      if (!row) return { done: true };
      if (row.status === 'saving') return { done: false, reason: 'image data is being saved' };
      await deleteIfIdle(ctx, state);
      return { done: true };
    },
    async attribute(ctx, state, name) {
      if (name !== 'show') return null;
      const row = await readImage(ctx, state.physicalId);
      if (!row) return null;
      return {
        id: row.id,
        name: row.name,
        status: row.status,
        visibility: row.visibility,
        disk_format: row.diskFormat,
        container_format: row.containerFormat,
        size: row.sizeBytes,
        virtual_size: row.virtualSizeBytes,
        checksum: row.checksum,
        os_hash_algo: row.osHashAlgo,
        os_hash_value: row.osHashValue,
        min_disk: row.minDiskGib,
        min_ram: row.minRamMib,
        protected: row.protected,
        tags: row.tags,
        owner: row.ownerProjectId,
        created_at: row.createdAt.toISOString(),
        updated_at: row.updatedAt.toISOString(),
        ...row.properties,
      };
    },
  };
}

/** Deletes the image unless it is gone, or still saving (checkDeleteComplete retries then). */
async function deleteIfIdle(ctx: ResourceContext, state: ResourceState): Promise<void> {
  const row = await readImage(ctx, state.physicalId);
  if (!row || row.status === 'saving') return;
  await deleteImage(ctx.svc, row.id).catch((error: unknown) => {
    if (error instanceof NotFoundError) return;
    if (error instanceof ConflictError && /being uploaded/.test(error.message)) return;
    throw error;
  });
}

export const webImagePlugin = plugin('OS::Glance::WebImage', true);
export const imagePlugin = plugin('OS::Glance::Image', false);
