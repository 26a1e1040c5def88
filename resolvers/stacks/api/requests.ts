import { z } from 'zod';
import { parseInput } from '../../validation';
import type { StackRequest, StackUpdateRequest } from '../engine/types';

/**
 * Input checks of the stack mutations (shape only; the template itself is the engine's and
 * the template layer's): a bad field is an InvalidInputError naming `input.<field>`.
 */

/** Heat's max_template_size (bytes), also applied to each file and the environment. */
export const MAX_TEMPLATE_BYTES = 524_288;

/** Heat's stack name rule: a letter first, then letters, digits, `_`, `-`, `.`; at most 255. */
const stackNameSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(255, 'must be at most 255 characters')
  .regex(
    /^[a-zA-Z][a-zA-Z0-9_.-]*$/,
    'must start with a letter and hold only letters, digits, "_", "-" and "."',
  );

const templateSchema = z
  .string()
  .min(1, 'must not be empty')
  .refine((t) => Buffer.byteLength(t) <= MAX_TEMPLATE_BYTES, {
    message: `must be at most ${MAX_TEMPLATE_BYTES} bytes`,
  });

const filesSchema = z.record(
  z.string().min(1, 'file names must not be empty'),
  z.string().refine((t) => Buffer.byteLength(t) <= MAX_TEMPLATE_BYTES, {
    message: `a file must be at most ${MAX_TEMPLATE_BYTES} bytes`,
  }),
  { message: 'must be a map of file name to text' },
);

const environmentSchema = z.union([z.string(), z.record(z.string(), z.unknown())], {
  message: 'must be YAML/JSON text or a map',
});

const parametersSchema = z.record(z.string(), z.unknown(), {
  message: 'must be a map of parameter name to value',
});

const tagsSchema = z
  .array(
    z
      .string()
      .min(1, 'a tag must not be empty')
      .max(80, 'a tag must be at most 80 characters')
      .regex(/^[^,/]*$/, 'a tag must not contain "," or "/"'),
  )
  .max(50, 'at most 50 tags');

const timeoutSchema = z
  .number()
  .int('must be a whole number of minutes')
  .min(1, 'must be at least 1 minute')
  .max(10_080, 'must be at most 10080 minutes (a week)');

const createSchema = z.object({
  name: stackNameSchema,
  template: templateSchema,
  files: filesSchema.optional(),
  environment: environmentSchema.optional(),
  parameters: parametersSchema.optional(),
  disableRollback: z.boolean().optional(),
  timeoutMinutes: timeoutSchema.nullable().optional(),
  tags: tagsSchema.optional(),
});

const updateSchema = z.object({
  template: templateSchema.optional(),
  files: filesSchema.optional(),
  environment: environmentSchema.optional(),
  parameters: parametersSchema.optional(),
  existingParameters: z.boolean().optional(),
  disableRollback: z.boolean().optional(),
  timeoutMinutes: timeoutSchema.nullable().optional(),
  tags: tagsSchema.optional(),
});

/** Input fields without the nulls GraphQL gives for omitted ones. */
export function given<T extends object>(input: T): Partial<T> {
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v != null)) as Partial<T>;
}

/** A createStack/previewStack input as the engine's request, or InvalidInputError. */
export function stackRequest(input: Record<string, unknown>): StackRequest {
  return parseInput(createSchema, given(input)) as StackRequest;
}

/** An updateStack/previewStackUpdate input (without its id) as the engine's request. */
export function stackUpdateRequest(input: Record<string, unknown>): StackUpdateRequest {
  const { id: _id, ...rest } = given(input);
  return parseInput(updateSchema, rest) as StackUpdateRequest;
}

/** validateTemplate's input. */
export function validateRequest(input: Record<string, unknown>): {
  template: string;
  files?: Record<string, string>;
  environment?: string | Record<string, unknown>;
  parameters?: Record<string, unknown>;
} {
  return parseInput(
    z.object({
      template: templateSchema,
      files: filesSchema.optional(),
      environment: environmentSchema.optional(),
      parameters: parametersSchema.optional(),
    }),
    given(input),
  );
}
