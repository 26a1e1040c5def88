import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { TemplateError, type TemplateErrorKind } from '../../resolvers/stacks/template/index';

const DIR = path.join(import.meta.dirname, 'templates');

export function fixture(name: string): string {
  return fs.readFileSync(path.join(DIR, name), 'utf8');
}

/** A template text: the version line, then YAML lines. */
export function hot(version: string, body: string): string {
  return `heat_template_version: ${version}\n${body}`;
}

export interface ExpectedError {
  kind: TemplateErrorKind;
  path: string;
  message?: RegExp;
  line?: number;
}

/** The promise fails with a TemplateError of this kind at exactly this path. */
export async function expectTemplateError(
  promise: Promise<unknown>,
  expected: ExpectedError,
): Promise<TemplateError> {
  let caught: unknown = null;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a TemplateError').toBeInstanceOf(TemplateError);
  const err = caught as TemplateError;
  expect({ kind: err.kind, path: err.path }).toEqual({ kind: expected.kind, path: expected.path });
  expect(err.message.startsWith(expected.path === '' ? '' : `${expected.path}: `)).toBe(true);
  if (expected.message) expect(err.message).toMatch(expected.message);
  if (expected.line !== undefined) expect(err.line).toBe(expected.line);
  return err;
}
