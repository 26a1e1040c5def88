/** A minimal GraphQL-over-HTTP client shared by the tests and the benchmarks (no vitest here). */

// biome-ignore lint/suspicious/noExplicitAny: GraphQL results are checked field by field.
export type Json = any;

export interface GqlResult {
  data?: Json;
  errors?: Array<{
    message: string;
    path?: Array<string | number>;
    extensions?: Record<string, Json>;
  }>;
}

/** POSTs one operation to `graphqlUrl`, with the token as a Bearer header when given. */
export async function postGraphQL(
  graphqlUrl: string,
  query: string,
  variables?: Record<string, unknown>,
  token?: string | null,
): Promise<GqlResult> {
  const res = await fetch(graphqlUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as GqlResult;
}

/** Like postGraphQL, but throws on any error and returns the data. */
export async function postGraphQLOk(
  graphqlUrl: string,
  query: string,
  variables?: Record<string, unknown>,
  token?: string | null,
): Promise<Json> {
  const result = await postGraphQL(graphqlUrl, query, variables, token);
  if (result.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
  return result.data;
}
