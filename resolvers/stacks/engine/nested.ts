import { randomBytes } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { stacks } from '../../../db/stacks';
import type { ServiceContext } from '../../runtime';
import type { EngineServices } from '../resources/plugin';
import { engineBaseUrl } from './context';
import { outputsOf } from './outputs';
import { signal } from './signal';
import { signalToken } from './signal-token';
import { createStack, deleteStack, updateStack } from './start';
import type { StackResourceRow, StackRow } from './types';

/**
 * Engine services for composite plugins: a nested stack is a stacks row with parentStackId /
 * parentResourceName, owned by the same owner and run by the same engine. It never rolls
 * back on its own (the parent's failure handling deletes or restores it, as in Heat).
 */
export function engineServices(
  svc: ServiceContext,
  stack: StackRow,
  row: Pick<StackResourceRow, 'id' | 'name'>,
): EngineServices {
  const findChild = async () => {
    const [child] = await svc.rt.db
      .select()
      .from(stacks)
      .where(and(eq(stacks.parentStackId, stack.id), eq(stacks.parentResourceName, row.name)));
    return child ?? null;
  };
  const childOf = async (id: string) => {
    const [child] = await svc.rt.db.select().from(stacks).where(eq(stacks.id, id));
    return child ?? null;
  };
  return {
    async applyNestedStack(input) {
      const existing = await findChild();
      if (existing) {
        const updated = await updateStack(svc, existing.id, {
          template: input.template,
          files: input.files,
          parameters: input.parameters ?? {},
          environment: input.environment,
        });
        return updated.id;
      }
      const name = `${stack.name}-${row.name}-${randomBytes(4).toString('hex')}`.slice(0, 255);
      const created = await createStack(
        svc,
        {
          name,
          template: input.template,
          files: input.files,
          parameters: input.parameters,
          environment: input.environment,
          disableRollback: true,
          timeoutMinutes: stack.timeoutMinutes,
        },
        { stackId: stack.id, resourceName: row.name },
      );
      return created.id;
    },
    async nestedStatus(id) {
      const child = await childOf(id);
      if (!child) return { status: 'DELETE_COMPLETE', reason: null };
      return { status: `${child.action}_${child.status}`, reason: child.statusReason || null };
    },
    async nestedOutputs(id) {
      const child = await childOf(id);
      if (!child) return {};
      const outputs = await outputsOf(svc, child);
      return Object.fromEntries(
        Object.entries(outputs).map(([k, v]) => [k, 'value' in v ? v.value : null]),
      );
    },
    async deleteNestedStack(id) {
      const child = await childOf(id);
      if (child) await deleteStack(svc, child.id);
    },
    signalUrl() {
      const token = signalToken(svc.rt.tempUrlSecret, stack.id, row.name);
      return `${engineBaseUrl(svc.rt)}/stacks/signal/${token}`;
    },
    signalResource(resourceName, details) {
      return signal(svc, stack.id, resourceName, details);
    },
  };
}
