import {
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
} from '../resolvers/errors';
import { canModifyImage, type ImageRow } from '../resolvers/images/access';
import {
  addImageMember,
  answerImageMembership,
  createImage,
  deleteImage,
  type ImageMemberRow,
  importImage,
  listImages,
  loadImageMembers,
  loadImageOperations,
  loadImages,
  removeImageMember,
  setImageDeactivated,
  updateImage,
} from '../resolvers/images/images';
import { builder } from './builder';
import { Project } from './identity/types';
import { Operation } from './operations';
import { listConnection } from './pagination';

const ImageStatus = builder.enumType('ImageStatus', {
  values: ['queued', 'saving', 'active', 'killed', 'deleted', 'deactivated'] as const,
});
const ImageVisibility = builder.enumType('ImageVisibility', {
  values: ['private', 'shared', 'community', 'public'] as const,
});
const DiskFormat = builder.enumType('DiskFormat', {
  values: ['raw', 'qcow2', 'iso', 'aki', 'ari', 'ami'] as const,
});
const ContainerFormat = builder.enumType('ContainerFormat', {
  values: ['bare', 'aki', 'ari', 'ami'] as const,
});
const MemberStatus = builder.enumType('ImageMemberStatus', {
  values: ['pending', 'accepted', 'rejected'] as const,
});

const ImageMember = builder.objectRef<ImageMemberRow>('ImageMember').implement({
  fields: (t) => ({
    project: t.field({ type: Project, nullable: true, resolve: (m) => m.memberProjectId }),
    status: t.field({ type: MemberStatus, resolve: (m) => m.status }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

export const Image = builder.loadableNodeRef<ImageRow, string>('Image', {
  id: { resolve: (i) => i.id },
  load: async (ids, ctx) => (await loadImages(ctx, ids)) as unknown as Array<ImageRow | Error>,
});
Image.implement({
  description: 'A Glance image: a disk (or kernel, ramdisk) that servers boot from',
  fields: (t) => ({
    name: t.exposeString('name'),
    status: t.field({ type: ImageStatus, resolve: (i) => i.status }),
    visibility: t.field({ type: ImageVisibility, resolve: (i) => i.visibility }),
    diskFormat: t.field({ type: DiskFormat, resolve: (i) => i.diskFormat }),
    containerFormat: t.field({ type: ContainerFormat, resolve: (i) => i.containerFormat }),
    sizeBytes: t.exposeFloat('sizeBytes', { nullable: true }),
    virtualSizeBytes: t.exposeFloat('virtualSizeBytes', { nullable: true }),
    checksum: t.exposeString('checksum', {
      nullable: true,
      description: 'MD5 of the bytes (Glance checksum)',
    }),
    osHashAlgo: t.exposeString('osHashAlgo', { nullable: true }),
    osHashValue: t.exposeString('osHashValue', { nullable: true }),
    minDiskGib: t.exposeInt('minDiskGib'),
    minRamMib: t.exposeInt('minRamMib'),
    protected: t.exposeBoolean('protected'),
    tags: t.exposeStringList('tags'),
    properties: t.field({
      type: 'JSON',
      description: 'kernel_id, ramdisk_id, os_command_line, hw_* …',
      resolve: (i) => i.properties,
    }),
    owner: t.field({ type: Project, nullable: true, resolve: (i) => i.ownerProjectId }),
    operation: t.loadable({
      type: Operation,
      nullable: true,
      description: 'The operation filling this image (importImage), while it runs and after',
      load: (ids: string[], ctx) => loadImageOperations(ctx, ids),
      resolve: (i) => i.id,
    }),
    failureReason: t.exposeString('failureReason', {
      nullable: true,
      description: 'Why the last upload failed (status killed)',
    }),
    members: t.loadableList({
      type: ImageMember,
      description: 'Projects the image is shared with (owner and admins)',
      nullable: true,
      authScopes: (image, _args, ctx) => canModifyImage(ctx.auth, image),
      load: (ids: string[], ctx) => loadImageMembers(ctx, ids),
      resolve: (i) => i.id,
    }),
    uploadUrl: t.string({
      description: 'PUT the bytes here with X-Auth-Token while the image is queued',
      resolve: (i, _args, ctx) => `${ctx.baseUrl}/v2/images/${i.id}/file`,
    }),
    fileUrl: t.string({
      description: 'GET the bytes here with X-Auth-Token',
      resolve: (i, _args, ctx) => `${ctx.baseUrl}/v2/images/${i.id}/file`,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

const ImageFilter = builder.inputType('ImageFilter', {
  fields: (t) => ({
    name: t.string(),
    status: t.field({ type: ImageStatus }),
    visibility: t.field({
      type: ImageVisibility,
      description: 'community images are listed only when asked for',
    }),
    tag: t.string(),
    diskFormat: t.field({ type: DiskFormat }),
  }),
});

builder.queryField('images', (t) =>
  t.connection({
    type: Image,
    description:
      'Images you may see: your project’s, public ones, and shared ones you accepted; newest first',
    authScopes: { policy: 'images:list' },
    nullable: true,
    args: { filter: t.arg({ type: ImageFilter }) },
    resolve: (_root, args, ctx) =>
      listConnection(args, (page) => listImages(ctx, args.filter ?? {}, page)),
  }),
);

const CreateImageInput = builder.inputType('CreateImageInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    diskFormat: t.field({ type: DiskFormat, required: true }),
    containerFormat: t.field({ type: ContainerFormat }),
    visibility: t.field({ type: ImageVisibility }),
    minDiskGib: t.int(),
    minRamMib: t.int(),
    protected: t.boolean(),
    tags: t.stringList(),
    properties: t.field({ type: 'JSON' }),
  }),
});
const UpdateImageInput = builder.inputType('UpdateImageInput', {
  fields: (t) => ({
    id: t.globalID({ for: Image, required: true }),
    name: t.string(),
    visibility: t.field({ type: ImageVisibility }),
    minDiskGib: t.int(),
    minRamMib: t.int(),
    protected: t.boolean(),
    tags: t.stringList(),
    properties: t.field({ type: 'JSON' }),
  }),
});
const ImportImageInput = builder.inputType('ImportImageInput', {
  fields: (t) => ({
    sourceImageId: t.globalID({ for: Image, required: true }),
    name: t.string({ required: true }),
  }),
});
const ImageMemberInput = builder.inputType('ImageMemberInput', {
  fields: (t) => ({
    imageId: t.globalID({ for: Image, required: true }),
    projectId: t.globalID({ for: Project, required: true }),
  }),
});
const AnswerImageMembershipInput = builder.inputType('AnswerImageMembershipInput', {
  fields: (t) => ({
    imageId: t.globalID({ for: Image, required: true }),
    status: t.field({ type: MemberStatus, required: true }),
  }),
});

const defined = <T extends Record<string, unknown>>(o: T) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v != null));
const ERRORS = [InvalidInputError, NotFoundError, ConflictError, ForbiddenError];

builder.mutationFields((t) => ({
  createImage: t.field({
    type: Image,
    description: 'A queued image; PUT its bytes to uploadUrl (or use importImage)',
    authScopes: { policy: 'images:create' },
    args: { input: t.arg({ type: CreateImageInput, required: true }) },
    errors: { types: [InvalidInputError, ForbiddenError], dataField: { name: 'image' } },
    resolve: (_root, { input }, ctx) => createImage(ctx, defined(input)),
  }),
  updateImage: t.field({
    type: Image,
    authScopes: { policy: 'images:modify' },
    args: { input: t.arg({ type: UpdateImageInput, required: true }) },
    errors: { types: ERRORS, dataField: { name: 'image' } },
    resolve: (_root, { input }, ctx) => updateImage(ctx, { ...defined(input), id: input.id.id }),
  }),
  deleteImage: t.field({
    type: Image,
    description: 'Refused while the image is protected',
    authScopes: { policy: 'images:modify' },
    args: { id: t.arg.globalID({ for: Image, required: true }) },
    errors: { types: ERRORS, dataField: { name: 'image' } },
    resolve: (_root, { id }, ctx) => deleteImage(ctx, id.id),
  }),
  deactivateImage: t.field({
    type: Image,
    authScopes: { policy: 'images:deactivate' },
    args: { id: t.arg.globalID({ for: Image, required: true }) },
    errors: { types: ERRORS, dataField: { name: 'image' } },
    resolve: (_root, { id }, ctx) => setImageDeactivated(ctx, id.id, true),
  }),
  reactivateImage: t.field({
    type: Image,
    authScopes: { policy: 'images:deactivate' },
    args: { id: t.arg.globalID({ for: Image, required: true }) },
    errors: { types: ERRORS, dataField: { name: 'image' } },
    resolve: (_root, { id }, ctx) => setImageDeactivated(ctx, id.id, false),
  }),
  importImage: t.field({
    type: Image,
    description:
      'A new private image in your project with the bytes of an image you may see: queued at once, active when its `operation` (the copy) ends',
    authScopes: { policy: 'images:create' },
    args: { input: t.arg({ type: ImportImageInput, required: true }) },
    errors: { types: ERRORS, dataField: { name: 'image' } },
    resolve: (_root, { input }, ctx) =>
      importImage(ctx, { sourceImageId: input.sourceImageId.id, name: input.name }).then(
        (started) => started.image,
      ),
  }),
  addImageMember: t.field({
    type: ImageMember,
    authScopes: { policy: 'images:modify' },
    args: { input: t.arg({ type: ImageMemberInput, required: true }) },
    errors: { types: ERRORS, dataField: { name: 'member' } },
    resolve: (_root, { input }, ctx) =>
      addImageMember(ctx, { imageId: input.imageId.id, projectId: input.projectId.id }),
  }),
  removeImageMember: t.field({
    type: ImageMember,
    authScopes: { policy: 'images:modify' },
    args: { input: t.arg({ type: ImageMemberInput, required: true }) },
    errors: { types: ERRORS, dataField: { name: 'member' } },
    resolve: (_root, { input }, ctx) =>
      removeImageMember(ctx, { imageId: input.imageId.id, projectId: input.projectId.id }),
  }),
  answerImageMembership: t.field({
    type: ImageMember,
    description: 'Your project accepts (or rejects) an image shared with it',
    authScopes: { policy: 'images:answer_membership' },
    args: { input: t.arg({ type: AnswerImageMembershipInput, required: true }) },
    errors: { types: ERRORS, dataField: { name: 'member' } },
    resolve: (_root, { input }, ctx) =>
      answerImageMembership(ctx, { imageId: input.imageId.id, status: input.status }),
  }),
}));
