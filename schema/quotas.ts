import { ForbiddenError, InvalidInputError, NotFoundError } from '../resolvers/errors';
import { setProjectQuota } from '../resolvers/quotas';
import { builder } from './builder';
import { Project, QuotaEntryType } from './identity/types';

const QuotaLimitInput = builder.inputType('QuotaLimitInput', {
  fields: (t) => ({
    resource: t.string({
      required: true,
      description: 'e.g. instances, cores, ram_mib, volumes, gigabytes',
    }),
    limit: t.int({ required: true, description: '-1 for unlimited' }),
  }),
});
const SetProjectQuotaInput = builder.inputType('SetProjectQuotaInput', {
  fields: (t) => ({
    projectId: t.globalID({ for: Project, required: true }),
    limits: t.field({ type: [QuotaLimitInput], required: true }),
  }),
});

builder.mutationFields((t) => ({
  setProjectQuota: t.field({
    type: [QuotaEntryType],
    authScopes: { policy: 'quota:set' },
    args: { input: t.arg({ type: SetProjectQuotaInput, required: true }) },
    errors: {
      types: [InvalidInputError, NotFoundError, ForbiddenError],
      dataField: { name: 'quota' },
    },
    resolve: (_root, { input }, ctx) =>
      setProjectQuota(ctx, { projectId: input.projectId.id, limits: input.limits }),
  }),
}));
