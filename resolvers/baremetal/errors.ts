import { StratusError } from '../errors';

/** The node's provision state (or its running job) does not allow the action. */
export class NodeStateError extends StratusError {
  constructor(
    readonly nodeId: string,
    readonly action: string,
    readonly provisionState: string,
    readonly expected: readonly string[],
    reason?: string,
  ) {
    super(
      'CONFLICT',
      reason ??
        `Cannot '${action}' node ${nodeId} while it is "${provisionState}" (it must be ${expected.map((s) => `"${s}"`).join(' or ')})`,
    );
  }
}
