import { eq } from 'drizzle-orm';
import express from 'express';
import { stacks } from '../db/stacks';
import { StratusError } from '../resolvers/errors';
import type { Runtime } from '../resolvers/runtime';
import { signalResource } from '../resolvers/stacks/engine/index';
import { ownerContext } from '../resolvers/stacks/engine/owner';
import { readSignalToken } from '../resolvers/stacks/engine/signal-token';

/**
 * POST /stacks/signal/<token>: a guest signals a resource (WaitConditionHandle) with a JSON
 * body, no Stratus token needed: the signed token in the URL is the credential.
 */
export function stackSignalRouter(rt: Runtime): express.Router {
  const router = express.Router();
  router.post(
    '/stacks/signal/:token',
    express.json({ limit: '64kb', strict: false, type: () => true }),
    async (req, res) => {
      const target = readSignalToken(rt.tempUrlSecret, String(req.params.token));
      if (!target) {
        res.status(404).json({ error: 'NOT_FOUND', message: 'no such signal URL' });
        return;
      }
      try {
        const [stack] = await rt.db.select().from(stacks).where(eq(stacks.id, target.stackId));
        if (!stack) {
          res.status(404).json({ error: 'NOT_FOUND', message: 'the stack is gone' });
          return;
        }
        const ctx = await ownerContext(
          rt,
          { userId: stack.ownerUserId, projectId: stack.projectId },
          `${req.protocol}://${req.get('host')}`,
        );
        await signalResource(ctx, target.stackId, target.resourceName, req.body ?? {});
        res.status(200).json({ ok: true });
      } catch (error) {
        if (error instanceof StratusError) {
          const status = error.code === 'NOT_FOUND' ? 404 : error.code === 'FORBIDDEN' ? 403 : 400;
          res.status(status).json({ error: error.code, message: error.message });
          return;
        }
        rt.logger.error({ err: error }, 'stack signal failed');
        res.status(500).json({ error: 'INTERNAL', message: 'the signal could not be handled' });
      }
    },
  );
  return router;
}
