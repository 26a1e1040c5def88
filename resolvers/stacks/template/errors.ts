import { StratusError } from '../../errors';

/** A place in the template: keys and list indexes from the document root. */
export type Path = readonly (string | number)[];

/** What went wrong, so the engine can map it to a typed GraphQL error. */
export type TemplateErrorKind =
  | 'SYNTAX'
  | 'VERSION'
  | 'SECTION'
  | 'RESOURCE'
  | 'PARAMETER'
  | 'CONSTRAINT'
  | 'FUNCTION'
  | 'REFERENCE'
  | 'CONDITION'
  | 'CYCLE'
  | 'FILE'
  | 'ENVIRONMENT'
  | 'UNSUPPORTED';

/** `resources.server.properties.networks[0].port` */
export function formatPath(path: Path): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out;
}

/**
 * Every template problem: `path` names the place in the template (or environment), `line` and
 * `column` (1-based) where the source text is known.
 */
export class TemplateError extends StratusError {
  readonly path: string;
  line: number | null = null;
  column: number | null = null;
  readonly detail: string;

  constructor(
    readonly kind: TemplateErrorKind,
    path: Path | string,
    detail: string,
  ) {
    const where = typeof path === 'string' ? path : formatPath(path);
    super('BAD_USER_INPUT', where === '' ? detail : `${where}: ${detail}`);
    this.path = where;
    this.detail = detail;
  }

  /** Adds the source position once it is known (the checks work on plain values). */
  at(line: number, column: number): this {
    if (this.line === null) {
      this.line = line;
      this.column = column;
      this.message = `${this.message} (line ${line}, column ${column})`;
    }
    return this;
  }
}
