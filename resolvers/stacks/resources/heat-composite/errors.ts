import { StratusError } from '../../../errors';

/** A composite resource that failed on its own terms (a FAILURE signal, a timeout, a failed nested stack). */
export class ResourceFailure extends StratusError {
  constructor(message: string) {
    super('CONFLICT', message);
  }
}
