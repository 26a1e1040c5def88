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

/** A template of `n` resources: each server needs a port, each port the shared net. */
export function bigTemplate(n: number): string {
  const lines = [
    'heat_template_version: 2018-08-31',
    'parameters:',
    '  flavor: {type: string, default: m1.tiny}',
    'resources:',
    '  net: {type: OS::Neutron::Net}',
  ];
  for (let i = 1; i < n; i++) {
    if (i % 2 === 1) {
      lines.push(
        `  port${i}:`,
        '    type: OS::Neutron::Port',
        '    properties:',
        '      network: {get_resource: net}',
      );
    } else {
      lines.push(
        `  server${i}:`,
        '    type: OS::Nova::Server',
        '    properties:',
        '      flavor: {get_param: flavor}',
        `      name: {str_replace: {template: "srv-$i", params: {$i: ${i}}}}`,
        `      networks: [{port: {get_resource: port${i - 1}}}]`,
        `      metadata: {ip: {get_attr: [port${i - 1}, fixed_ips, 0, ip_address]}}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
