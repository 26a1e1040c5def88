import { encodeGlobalID } from '@pothos/plugin-relay';
import {
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  NameTakenError,
  NotFoundError,
  QuotaExceededError,
} from '../resolvers/errors';
import { type ContainerRow, canReadContainer } from '../resolvers/objects/access';
import {
  createContainer,
  deleteContainer,
  listContainers,
  loadContainers,
  updateContainer,
} from '../resolvers/objects/containers';
import {
  abortMultipartUpload,
  completeMultipartUpload,
  createMultipartUpload,
  type MultipartUploadRow,
} from '../resolvers/objects/multipart';
import {
  bulkDeleteObjects,
  copyObject,
  deleteObject,
  type ListingEntry,
  listObjects,
  type ObjectRow,
  updateObjectMetadata,
} from '../resolvers/objects/objects';
import { createTempUrl, objectPath } from '../resolvers/objects/temp-urls';
import { builder } from './builder';
import { visibleTo } from './events';
import { Project } from './identity/types';
import { listConnection } from './pagination';

const ReadAcl = builder.enumType('ContainerReadAcl', {
  description: "Who may read a container's objects besides its own project",
  values: {
    PRIVATE: { description: 'Only the project' },
    PUBLIC: { description: 'Anyone, without a token (Swift .r:*)' },
    PROJECTS: { description: 'Also the readers of readProjects' },
  } as const,
});

export const Container = builder.loadableNodeRef<ContainerRow, string>('Container', {
  id: { resolve: (c) => c.id },
  load: async (ids, ctx) =>
    (await loadContainers(ctx, ids)) as unknown as Array<ContainerRow | Error>,
});

export const StoredObject = builder.objectRef<ObjectRow & { container: ContainerRow }>(
  'StoredObject',
);
const PseudoFolder = builder.objectRef<{ prefix: string }>('PseudoFolder').implement({
  description: 'Names that continue past the delimiter, grouped (a "directory")',
  fields: (t) => ({ prefix: t.exposeString('prefix') }),
});
const ListingEntryType = builder.unionType('ObjectListingEntry', {
  types: [StoredObject, PseudoFolder],
  resolveType: (entry) => ('prefix' in entry && !('etag' in entry) ? PseudoFolder : StoredObject),
});

StoredObject.implement({
  description: 'An object: metadata here, bytes at `url` over HTTP',
  fields: (t) => ({
    id: t.id({ resolve: (o) => encodeGlobalID('StoredObject', o.id) }),
    name: t.exposeString('name'),
    container: t.field({ type: Container, resolve: (o) => o.container }),
    sizeBytes: t.exposeFloat('sizeBytes', {
      description: 'Bytes (a Float: objects can exceed 2^31)',
    }),
    etag: t.exposeString('etag', {
      description: 'MD5 of the content; for a multipart object, md5-of-md5s-n',
    }),
    contentType: t.exposeString('contentType'),
    metadata: t.field({ type: 'JSON', resolve: (o) => o.metadata }),
    lastModified: t.expose('lastModified', { type: 'DateTime' }),
    deleteAt: t.expose('deleteAt', { type: 'DateTime', nullable: true }),
    segmentCount: t.int({ resolve: (o) => o.segments?.length ?? 1 }),
    url: t.string({
      description: 'Where GET/HEAD/PUT/DELETE of the bytes go (send X-Auth-Token)',
      resolve: (o, _args, ctx) =>
        `${ctx.baseUrl}${objectPath(o.container.projectId, o.container.name, o.name)}`,
    }),
  }),
});

Container.implement({
  description: 'A Swift container: objects of one project, with metadata, read ACL and quotas',
  fields: (t) => ({
    name: t.exposeString('name'),
    project: t.field({ type: Project, nullable: true, resolve: (c) => c.projectId }),
    metadata: t.field({ type: 'JSON', resolve: (c) => c.metadata }),
    readAcl: t.field({ type: ReadAcl, resolve: (c) => c.readAcl }),
    readProjects: t.field({
      type: [Project],
      nullable: { list: false, items: true },
      resolve: (c) => c.readProjectIds,
    }),
    quotaBytes: t.exposeFloat('quotaBytes', { nullable: true }),
    quotaObjects: t.exposeFloat('quotaObjects', { nullable: true }),
    objectCount: t.exposeFloat('objectCount'),
    bytesUsed: t.exposeFloat('bytesUsed'),
    uploadUrlPrefix: t.string({
      description: 'PUT <uploadUrlPrefix><object name> with X-Auth-Token to upload',
      resolve: (c, _args, ctx) => `${ctx.baseUrl}${objectPath(c.projectId, c.name, '')}`,
    }),
    objects: t.connection({
      type: ListingEntryType,
      description:
        'Objects in byte order of name; with a delimiter, deeper names fold into pseudo-folders',
      args: { prefix: t.arg.string(), delimiter: t.arg.string() },
      resolve: (c, args, ctx) =>
        listConnection(args, async (page) => {
          const result = await listObjects(
            ctx,
            c,
            { prefix: args.prefix ?? '', delimiter: args.delimiter || null },
            page,
          );
          return {
            totalCount: result.totalCount,
            rows: result.rows.map((e: ListingEntry) =>
              e.kind === 'folder' ? { prefix: e.prefix } : { ...e.object, container: c },
            ),
          };
        }),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

builder.queryField('containers', (t) =>
  t.connection({
    type: Container,
    description: "Your project's containers (an admin may name a project)",
    authScopes: { policy: 'objects:list_containers' },
    nullable: true,
    args: { prefix: t.arg.string(), projectId: t.arg.globalID({ for: Project }) },
    resolve: (_root, args, ctx) =>
      listConnection(args, (page) =>
        listContainers(ctx, { prefix: args.prefix, projectId: args.projectId?.id }, page),
      ),
  }),
);

const CreateContainerInput = builder.inputType('CreateContainerInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    metadata: t.field({ type: 'JSON' }),
    readAcl: t.field({ type: ReadAcl }),
    readProjectIds: t.idList({
      description: 'Global ids of projects that may read when readAcl is PROJECTS',
    }),
    quotaBytes: t.float(),
    quotaObjects: t.float(),
  }),
});
const UpdateContainerInput = builder.inputType('UpdateContainerInput', {
  fields: (t) => ({
    id: t.globalID({ for: Container, required: true }),
    metadata: t.field({ type: 'JSON' }),
    readAcl: t.field({ type: ReadAcl }),
    readProjectIds: t.idList(),
    quotaBytes: t.float({ description: 'null removes the quota' }),
    quotaObjects: t.float(),
  }),
});

/** Decodes Project global ids in a list; a malformed one is reported by its position. */
function projectIds(ids: readonly (string | number)[] | null | undefined): string[] | undefined {
  if (!ids) return undefined;
  return ids.map((id, i) => {
    try {
      const decoded = Buffer.from(String(id), 'base64').toString();
      const [type, raw] = [
        decoded.slice(0, decoded.indexOf(':')),
        decoded.slice(decoded.indexOf(':') + 1),
      ];
      if (type !== 'Project') throw new Error();
      return raw;
    } catch {
      throw new InvalidInputError(
        `input.readProjectIds.${i}`,
        `input.readProjectIds.${i} is not a Project id`,
      );
    }
  });
}

const WRITE_ERRORS = [InvalidInputError, NotFoundError, ForbiddenError];

builder.mutationFields((t) => ({
  createContainer: t.field({
    type: Container,
    authScopes: { policy: 'objects:create_container' },
    args: { input: t.arg({ type: CreateContainerInput, required: true }) },
    errors: {
      types: [...WRITE_ERRORS, NameTakenError, QuotaExceededError],
      dataField: { name: 'container' },
    },
    resolve: (_root, { input }, ctx) =>
      createContainer(ctx, {
        name: input.name,
        metadata: input.metadata ?? undefined,
        readAcl: input.readAcl ?? undefined,
        readProjectIds: projectIds(input.readProjectIds),
        quotaBytes: input.quotaBytes,
        quotaObjects: input.quotaObjects,
      }),
  }),
  updateContainer: t.field({
    type: Container,
    authScopes: { policy: 'objects:update_container' },
    args: { input: t.arg({ type: UpdateContainerInput, required: true }) },
    errors: { types: WRITE_ERRORS, dataField: { name: 'container' } },
    resolve: (_root, { input }, ctx) =>
      updateContainer(ctx, {
        id: input.id.id,
        metadata: input.metadata ?? undefined,
        readAcl: input.readAcl ?? undefined,
        readProjectIds: projectIds(input.readProjectIds),
        quotaBytes: input.quotaBytes,
        quotaObjects: input.quotaObjects,
      }),
  }),
  deleteContainer: t.field({
    type: Container,
    description: 'Refused while the container holds objects, unless emptyFirst',
    authScopes: { policy: 'objects:delete_container' },
    args: {
      id: t.arg.globalID({ for: Container, required: true }),
      emptyFirst: t.arg.boolean({ defaultValue: false }),
    },
    errors: {
      types: [NotFoundError, ConflictError, ForbiddenError],
      dataField: { name: 'container' },
    },
    resolve: (_root, args, ctx) => deleteContainer(ctx, args.id.id, args.emptyFirst ?? false),
  }),
}));

const ObjectRefInput = builder.inputType('ObjectRefInput', {
  fields: (t) => ({
    containerId: t.globalID({ for: Container, required: true }),
    name: t.string({ required: true }),
  }),
});
const CopyObjectInput = builder.inputType('CopyObjectInput', {
  fields: (t) => ({
    from: t.field({ type: ObjectRefInput, required: true }),
    to: t.field({ type: ObjectRefInput, required: true }),
  }),
});
const UpdateObjectMetadataInput = builder.inputType('UpdateObjectMetadataInput', {
  fields: (t) => ({
    containerId: t.globalID({ for: Container, required: true }),
    name: t.string({ required: true }),
    metadata: t.field({ type: 'JSON', required: true }),
    contentType: t.string(),
    deleteAt: t.field({
      type: 'DateTime',
      description: 'When Stratus deletes the object; null keeps it',
    }),
  }),
});
const BulkDeleteInput = builder.inputType('BulkDeleteObjectsInput', {
  fields: (t) => ({
    containerId: t.globalID({ for: Container, required: true }),
    names: t.stringList({ required: true }),
  }),
});
const BulkDeleteResult = builder
  .objectRef<{ deleted: string[]; notFound: string[] }>('BulkDeleteResult')
  .implement({
    fields: (t) => ({
      deleted: t.exposeStringList('deleted'),
      notFound: t.exposeStringList('notFound'),
    }),
  });
const TempUrlMethod = builder.enumType('TempUrlMethod', {
  values: ['GET', 'HEAD', 'PUT'] as const,
});
const CreateTempUrlInput = builder.inputType('CreateTempUrlInput', {
  fields: (t) => ({
    containerId: t.globalID({ for: Container, required: true }),
    objectName: t.string({ required: true }),
    method: t.field({ type: TempUrlMethod, required: true }),
    expiresInSeconds: t.int({ required: true }),
  }),
});
const TempUrl = builder.objectRef<{ url: string; expiresAt: Date }>('TempUrl').implement({
  fields: (t) => ({
    url: t.exposeString('url'),
    expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
  }),
});
const MultipartUpload = builder
  .objectRef<MultipartUploadRow & { baseUrl: string; projectId: string; containerName: string }>(
    'MultipartUpload',
  )
  .implement({
    description: 'PUT each part to partUrl with partNumber=1..n, then completeMultipartUpload',
    fields: (t) => ({
      id: t.exposeID('id'),
      objectName: t.exposeString('objectName'),
      partUrl: t.string({
        description: 'Append &partNumber=<n> and PUT the part with X-Auth-Token',
        resolve: (u) =>
          `${u.baseUrl}${objectPath(u.projectId, u.containerName, u.objectName)}?uploadId=${u.id}`,
      }),
      createdAt: t.expose('createdAt', { type: 'DateTime' }),
    }),
  });
const CreateMultipartUploadInput = builder.inputType('CreateMultipartUploadInput', {
  fields: (t) => ({
    containerId: t.globalID({ for: Container, required: true }),
    objectName: t.string({ required: true }),
    contentType: t.string(),
    metadata: t.field({ type: 'JSON' }),
  }),
});

/** The schema shape of an object row: its container rides along for `url` and `container`. */
async function withContainer(ctx: Parameters<typeof loadContainers>[0], row: ObjectRow) {
  const [container] = await loadContainers(ctx, [row.containerId]);
  if (!container) throw new NotFoundError('container', row.containerId);
  return { ...row, container };
}

const asRecord = (value: unknown, field: string): Record<string, string> => {
  if (value == null) return {};
  if (typeof value !== 'object' || Array.isArray(value))
    throw new InvalidInputError(field, `${field} must be an object of strings`);
  return value as Record<string, string>;
};

builder.mutationFields((t) => ({
  deleteObject: t.field({
    type: StoredObject,
    authScopes: { policy: 'objects:write_object' },
    args: { input: t.arg({ type: ObjectRefInput, required: true }) },
    errors: { types: [NotFoundError, ForbiddenError], dataField: { name: 'object' } },
    resolve: async (_root, { input }, ctx) =>
      withContainerOf(
        ctx,
        await deleteObject(ctx, input.containerId.id, input.name),
        input.containerId.id,
      ),
  }),
  bulkDeleteObjects: t.field({
    type: BulkDeleteResult,
    authScopes: { policy: 'objects:write_object' },
    args: { input: t.arg({ type: BulkDeleteInput, required: true }) },
    errors: { types: WRITE_ERRORS, dataField: { name: 'result' } },
    resolve: (_root, { input }, ctx) => bulkDeleteObjects(ctx, input.containerId.id, input.names),
  }),
  copyObject: t.field({
    type: StoredObject,
    description: 'Server-side copy; the bytes never pass through the client',
    authScopes: { policy: 'objects:write_object' },
    args: { input: t.arg({ type: CopyObjectInput, required: true }) },
    errors: { types: [...WRITE_ERRORS, QuotaExceededError], dataField: { name: 'object' } },
    resolve: async (_root, { input }, ctx) =>
      withContainer(
        ctx,
        await copyObject(ctx, {
          fromContainerId: input.from.containerId.id,
          fromName: input.from.name,
          toContainerId: input.to.containerId.id,
          toName: input.to.name,
        }),
      ),
  }),
  updateObjectMetadata: t.field({
    type: StoredObject,
    authScopes: { policy: 'objects:write_object' },
    args: { input: t.arg({ type: UpdateObjectMetadataInput, required: true }) },
    errors: { types: WRITE_ERRORS, dataField: { name: 'object' } },
    resolve: async (_root, { input }, ctx) =>
      withContainer(
        ctx,
        await updateObjectMetadata(ctx, {
          containerId: input.containerId.id,
          name: input.name,
          metadata: asRecord(input.metadata, 'input.metadata'),
          contentType: input.contentType,
          deleteAt: input.deleteAt,
        }),
      ),
  }),
  createTempUrl: t.field({
    type: TempUrl,
    description:
      'A signed URL that allows one method on one object until it expires, no token needed',
    authScopes: { policy: 'objects:create_temp_url' },
    args: { input: t.arg({ type: CreateTempUrlInput, required: true }) },
    errors: { types: WRITE_ERRORS, dataField: { name: 'tempUrl' } },
    resolve: async (_root, { input }, ctx) => {
      const made = await createTempUrl(ctx, { ...input, containerId: input.containerId.id });
      return { url: `${ctx.baseUrl}${made.path}`, expiresAt: made.expiresAt };
    },
  }),
  createMultipartUpload: t.field({
    type: MultipartUpload,
    authScopes: { policy: 'objects:write_object' },
    args: { input: t.arg({ type: CreateMultipartUploadInput, required: true }) },
    errors: { types: WRITE_ERRORS, dataField: { name: 'upload' } },
    resolve: async (_root, { input }, ctx) => {
      const upload = await createMultipartUpload(ctx, {
        ...input,
        containerId: input.containerId.id,
        metadata: asRecord(input.metadata, 'input.metadata'),
      });
      const [container] = await loadContainers(ctx, [upload.containerId]);
      return {
        ...upload,
        baseUrl: ctx.baseUrl,
        projectId: container!.projectId,
        containerName: container!.name,
      };
    },
  }),
  completeMultipartUpload: t.field({
    type: StoredObject,
    description: 'Assembles parts 1..n into one object',
    authScopes: { policy: 'objects:write_object' },
    args: { uploadId: t.arg.id({ required: true }) },
    errors: { types: [...WRITE_ERRORS, QuotaExceededError], dataField: { name: 'object' } },
    resolve: async (_root, args, ctx) =>
      withContainer(ctx, await completeMultipartUpload(ctx, String(args.uploadId))),
  }),
  abortMultipartUpload: t.field({
    type: MultipartUpload,
    authScopes: { policy: 'objects:write_object' },
    args: { uploadId: t.arg.id({ required: true }) },
    errors: { types: WRITE_ERRORS, dataField: { name: 'upload' } },
    resolve: async (_root, args, ctx) => {
      const upload = await abortMultipartUpload(ctx, String(args.uploadId));
      return { ...upload, baseUrl: ctx.baseUrl, projectId: '', containerName: '' };
    },
  }),
}));

/** A deleted object's container is still readable for the payload unless it went too. */
async function withContainerOf(
  ctx: Parameters<typeof loadContainers>[0],
  row: ObjectRow,
  containerId: string,
) {
  const [container] = await loadContainers(ctx, [containerId]);
  if (!container) throw new NotFoundError('container', containerId);
  return { ...row, container };
}

const ObjectEvent = builder
  .objectRef<{ kind: string; cursor: string; name: string; sizeBytes: number; etag: string }>(
    'ObjectEvent',
  )
  .implement({
    fields: (t) => ({
      kind: t.exposeString('kind', {
        description: 'OBJECT_CREATED, OBJECT_UPDATED or OBJECT_DELETED',
      }),
      cursor: t.exposeString('cursor'),
      name: t.exposeString('name'),
      sizeBytes: t.exposeFloat('sizeBytes'),
      etag: t.exposeString('etag'),
    }),
  });

builder.subscriptionField('containerObjects', (t) =>
  t.field({
    type: ObjectEvent,
    description: 'Objects created, updated and deleted in one container; resumable with after',
    authScopes: { policy: 'objects:list_containers' },
    args: {
      containerId: t.arg.globalID({ for: Container, required: true }),
      after: t.arg.string(),
    },
    subscribe: async (_root, args, ctx) => {
      const [container] = await loadContainers(ctx, [args.containerId.id]);
      if (!container || !canReadContainer(ctx.auth, container))
        throw new NotFoundError('container', args.containerId.id);
      if (args.after != null && !/^\d+$/.test(args.after))
        throw new InvalidInputError('after', `after must be an event cursor, got "${args.after}"`);
      return ctx.rt.events.stream({
        after: args.after == null ? null : Number(args.after),
        accept: (e) =>
          e.resourceType === 'StoredObject' &&
          e.payload.containerId === container.id &&
          // Readers through the container's ACL see its events too, while their token lives.
          (visibleTo(ctx, e) ||
            (ctx.auth !== null &&
              !ctx.rt.tokens.isRevoked(ctx.auth) &&
              canReadContainer(ctx.auth, container))),
      });
    },
    resolve: (e) => ({
      kind: e.kind,
      cursor: e.cursor,
      name: String(e.payload.name),
      sizeBytes: Number(e.payload.sizeBytes),
      etag: String(e.payload.etag),
    }),
  }),
);
