import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed operations for the tests: `npm run codegen` prints schema.graphql from the Pothos schema,
 * then generates one TypedDocumentNode per operation in test/operations into
 * test/generated/graphql.ts.
 *
 * typescript-operations (v6) emits the enums and input types the operations use by itself, so
 * the `typescript` plugin (every schema type) is not listed: both together declare those twice.
 */
const config: CodegenConfig = {
  overwrite: true,
  schema: 'schema.graphql',
  documents: ['test/operations/**/*.graphql'],
  generates: {
    'test/generated/graphql.ts': {
      plugins: ['typescript-operations', 'typed-document-node'],
      config: {
        useTypeImports: true,
        enumType: 'string-literal',
        scalars: {
          DateTime: { input: 'string', output: 'string' },
          JSON: { input: 'unknown', output: 'unknown' },
        },
        strictScalars: true,
        dedupeFragments: true,
      },
    },
  },
};

export default config;
