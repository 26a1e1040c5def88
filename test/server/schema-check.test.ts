import { describe, expect, it } from 'vitest';
import { compareSchemas } from '../../scripts/check-schema';

const BASE = /* GraphQL */ `
  type Query {
    project(id: ID!): Project
    projects(first: Int): [Project!]!
    legacy: Legacy @deprecated(reason: "use projects")
  }
  interface Node {
    id: ID!
  }
  type Project implements Node {
    id: ID!
    name: String!
    label: String @deprecated(reason: "use name")
    owner: Owner
  }
  type Owner {
    name: String!
  }
  type Legacy {
    name: String!
  }
  enum Flavor {
    SMALL
    LARGE @deprecated(reason: "gone soon")
  }
  type Mutation {
    resize(flavor: Flavor!, force: Boolean @deprecated(reason: "always forced")): Boolean
  }
`;

/** BASE with each [from, to] replacement applied; throws when one does not match. */
function edit(...replacements: Array<[string | RegExp, string]>): string {
  let sdl = BASE;
  for (const [from, to] of replacements) {
    const next = sdl.replace(from, to);
    if (next === sdl) throw new Error(`edit did not apply: ${from}`);
    sdl = next;
  }
  return sdl;
}

const messages = (changes: Array<{ message: string; path?: string }>) =>
  changes.map((c) => `${c.path}: ${c.message}`);

describe('schema check: deprecate first', () => {
  it('finds nothing when nothing changed', async () => {
    const result = await compareSchemas(BASE, BASE);
    expect(result).toEqual({ breaking: [], dangerous: [], safe: [] });
  });

  it('a removed field is breaking', async () => {
    const { breaking } = await compareSchemas(
      BASE,
      edit(['    name: String!\n    label', '    label']),
    );
    expect(messages(breaking)).toEqual([expect.stringMatching(/^Project\.name: .*removed/)]);
  });

  it('a removed deprecated field is not breaking', async () => {
    const result = await compareSchemas(
      BASE,
      edit(['    label: String @deprecated(reason: "use name")\n', '']),
    );
    expect(result.breaking).toEqual([]);
    expect(messages(result.dangerous)).toEqual([expect.stringMatching(/^Project\.label: /)]);
  });

  it('the old schema decides whether a removed field was deprecated', async () => {
    const withoutOwner = edit(['    owner: Owner\n', '']).replace(
      /type Owner \{\n\s*name: String!\n\s*\}/,
      '',
    );
    // Deprecated in a committed version, removed later: allowed, Owner goes with it.
    const deprecatedBefore = await compareSchemas(
      BASE.replace('owner: Owner', 'owner: Owner @deprecated(reason: "x")'),
      withoutOwner,
    );
    expect(deprecatedBefore.breaking).toEqual([]);
    // Deprecated and removed in the same change: the base never warned clients.
    const notDeprecated = await compareSchemas(BASE, withoutOwner);
    expect(messages(notDeprecated.breaking).sort()).toEqual([
      expect.stringMatching(/^Owner: /),
      expect.stringMatching(/^Project\.owner: /),
    ]);
  });

  it('an added optional argument is fine', async () => {
    const result = await compareSchemas(
      BASE,
      edit(['projects(first: Int)', 'projects(first: Int, after: String)']),
    );
    expect(result.breaking).toEqual([]);
    // Inspector rates it DANGEROUS (a client may depend on the exact argument list): allowed.
    expect(messages([...result.dangerous, ...result.safe])).toEqual([
      expect.stringMatching(/^Query\.projects\.after: /),
    ]);
  });

  it('an added required argument is breaking', async () => {
    const { breaking } = await compareSchemas(
      BASE,
      edit(['projects(first: Int)', 'projects(first: Int, domain: ID!)']),
    );
    expect(messages(breaking)).toEqual([expect.stringMatching(/^Query\.projects\.domain: /)]);
  });

  it('a changed argument type is breaking', async () => {
    const { breaking } = await compareSchemas(
      BASE,
      edit(['projects(first: Int)', 'projects(first: String)']),
    );
    expect(messages(breaking)).toEqual([
      expect.stringMatching(/^Query\.projects\.first: .*Int.*String/),
    ]);
  });

  it('a removed argument is breaking unless it was deprecated', async () => {
    const removedDeprecated = await compareSchemas(
      BASE,
      edit([', force: Boolean @deprecated(reason: "always forced")', '']),
    );
    expect(removedDeprecated.breaking).toEqual([]);
    expect(messages(removedDeprecated.dangerous)).toEqual([
      expect.stringMatching(/^Mutation\.resize\.force: /),
    ]);
    const removed = await compareSchemas(BASE, edit(['flavor: Flavor!, ', '']));
    expect(messages(removed.breaking)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^Mutation\.resize\.flavor: /)]),
    );
  });

  it('a removed enum value is breaking unless it was deprecated', async () => {
    const deprecated = await compareSchemas(
      BASE,
      edit(['    LARGE @deprecated(reason: "gone soon")\n', '']),
    );
    expect(deprecated.breaking).toEqual([]);
    const removed = await compareSchemas(BASE, edit(['    SMALL\n', '']));
    expect(messages(removed.breaking)).toEqual([expect.stringMatching(/^Flavor\.SMALL: /)]);
  });

  it('a removed type is breaking unless only deprecated fields used it', async () => {
    // Legacy was only returned by the deprecated Query.legacy: both may go together.
    const legacyGone = await compareSchemas(
      BASE,
      edit(['    legacy: Legacy @deprecated(reason: "use projects")\n', '']).replace(
        /type Legacy \{\n\s*name: String!\n\s*\}/,
        '',
      ),
    );
    expect(legacyGone.breaking).toEqual([]);
    // A type no field returns (only reachable through an interface) may go: nothing could
    // deprecate it first. Documented limit, see docs/schema-evolution.md.
    const orphanGone = await compareSchemas(
      BASE.replace('type Owner {', 'type Team implements Node {\n    id: ID!\n  }\n  type Owner {'),
      BASE,
    );
    expect(orphanGone.breaking).toEqual([]);
    // Owner is used by the non-deprecated Project.owner (whose type change is reported too).
    const ownerGone = await compareSchemas(
      BASE,
      BASE.replace('owner: Owner', 'owner: Legacy').replace(
        /type Owner \{\n\s*name: String!\n\s*\}/,
        '',
      ),
    );
    expect(messages(ownerGone.breaking)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^Owner: /),
        expect.stringMatching(/^Project\.owner: /),
      ]),
    );
  });

  it('a field made nullable is breaking, one made non-null is not', async () => {
    const nullable = await compareSchemas(
      BASE,
      edit(['    name: String!\n    label', '    name: String\n    label']),
    );
    expect(messages(nullable.breaking)).toEqual([expect.stringMatching(/^Project\.name: /)]);
    const nonNull = await compareSchemas(BASE, edit(['    owner: Owner\n', '    owner: Owner!\n']));
    expect(nonNull.breaking).toEqual([]);
  });
});
