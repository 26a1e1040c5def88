import type { TaskList } from 'graphile-worker';
import type { Runtime } from '../../resolvers/runtime';
import { STACK_STEP_JOB, type StepPayload } from '../../resolvers/stacks/engine/jobs';
import { runStep } from '../../resolvers/stacks/engine/step';

/** The stacks engine: one job per resource step (resolvers/stacks/engine/step.ts). */
export function registerStackTasks(tasks: TaskList, rt: Runtime): void {
  tasks[STACK_STEP_JOB] = async (payload) => {
    await runStep(rt, payload as StepPayload);
  };
}
