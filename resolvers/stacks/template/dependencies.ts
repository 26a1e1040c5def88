import { TemplateError } from './errors';

export interface DependencyGraph {
  /** Resource → the resources it needs (sorted). */
  requires: Record<string, string[]>;
  /** Resource → the resources that need it (sorted). */
  requiredBy: Record<string, string[]>;
  /** A creation order: every resource after what it needs. */
  order: string[];
  /** Creation in waves: each level needs only earlier levels, so a level runs in parallel. */
  levels: string[][];
  /** Deletion in waves: the creation levels reversed (dependents go first). */
  deleteLevels: string[][];
}

/** Finds one cycle and names it `a -> b -> a`, following the "needs" edges. */
function findCycle(requires: Record<string, string[]>, names: string[]): string[] | null {
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string): string[] | null => {
    state.set(n, 1);
    stack.push(n);
    for (const d of requires[n]) {
      const s = state.get(d);
      if (s === 1) return [...stack.slice(stack.indexOf(d)), d];
      if (s === undefined) {
        const found = visit(d);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(n, 2);
    return null;
  };
  for (const n of names) {
    if (!state.has(n)) {
      const found = visit(n);
      if (found) return found;
    }
  }
  return null;
}

/** Builds the graph; a cycle is an error naming it (Heat: "Circular Dependency Found"). */
export function buildGraph(edges: ReadonlyMap<string, ReadonlySet<string>>): DependencyGraph {
  const names = [...edges.keys()];
  const requires: Record<string, string[]> = {};
  const requiredBy: Record<string, string[]> = {};
  for (const n of names) requiredBy[n] = [];
  for (const [n, deps] of edges) {
    requires[n] = [...deps].filter((d) => edges.has(d)).sort();
    for (const d of requires[n]) requiredBy[d].push(n);
  }
  for (const n of names) requiredBy[n].sort();

  // Kahn's algorithm by levels.
  const pending = new Map(names.map((n) => [n, requires[n].length]));
  let ready = names.filter((n) => pending.get(n) === 0).sort();
  const levels: string[][] = [];
  let placed = 0;
  while (ready.length > 0) {
    levels.push(ready);
    placed += ready.length;
    const next: string[] = [];
    for (const n of ready) {
      for (const m of requiredBy[n]) {
        const left = pending.get(m)! - 1;
        pending.set(m, left);
        if (left === 0) next.push(m);
      }
    }
    ready = next.sort();
  }
  if (placed !== names.length) {
    const cycle = findCycle(requires, names.filter((n) => pending.get(n)! > 0).sort())!;
    throw new TemplateError(
      'CYCLE',
      ['resources', cycle[0]],
      `circular dependency: ${cycle.join(' -> ')}`,
    );
  }
  return {
    requires,
    requiredBy,
    order: levels.flat(),
    levels,
    deleteLevels: [...levels].reverse(),
  };
}
