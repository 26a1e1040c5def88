import {
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  type ScalarTag,
  type Tags,
} from 'yaml';
import { formatPath, type Path, TemplateError } from './errors';

export interface SourcePosition {
  line: number;
  column: number;
}

export interface ParsedSource {
  value: unknown;
  /** formatPath(path) → where that value starts in the text. */
  positions: Map<string, SourcePosition>;
}

/** Heat's max_template_size default (bytes). */
export const MAX_TEMPLATE_SIZE = 524_288;

const TIMESTAMP = 'tag:yaml.org,2002:timestamp';
const BOOL = 'tag:yaml.org,2002:bool';

/** PyYAML's booleans: YAML 1.1's without y/Y/n/N, which PyYAML reads as strings. */
const PYYAML_BOOLS: ScalarTag[] = [
  { tag: BOOL, default: true, test: /^(?:[Yy]es|YES|[Tt]rue|TRUE|[Oo]n|ON)$/, resolve: () => true },
  {
    tag: BOOL,
    default: true,
    test: /^(?:[Nn]o|NO|[Ff]alse|FALSE|[Oo]ff|OFF)$/,
    resolve: () => false,
  },
];

function pyyamlTags(tags: Tags): Tags {
  const kept = tags.filter((t) => typeof t === 'string' || (t.tag !== TIMESTAMP && t.tag !== BOOL));
  return [...PYYAML_BOOLS, ...kept];
}

/** Parses a YAML or JSON document keeping where each value starts. */
export function parseSource(text: string, what = 'template'): ParsedSource {
  if (Buffer.byteLength(text) > MAX_TEMPLATE_SIZE) {
    throw new TemplateError('SYNTAX', '', `the ${what} is larger than ${MAX_TEMPLATE_SIZE} bytes`);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    uniqueKeys: true,
    // PyYAML's YAML 1.1, as Heat reads templates (yes/no/on/off are booleans, 0755 is octal),
    // without timestamps: Heat's loader drops them, so 2016-10-14 stays a string.
    version: '1.1',
    customTags: pyyamlTags,
  });
  const first = doc.errors[0];
  if (first) {
    const pos = lineCounter.linePos(first.pos[0]);
    const reason = first.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new TemplateError('SYNTAX', '', `invalid YAML in the ${what}: ${reason}`).at(
      pos.line,
      pos.col,
    );
  }
  const positions = new Map<string, SourcePosition>();
  const record = (node: Node | null | undefined, path: (string | number)[]): void => {
    if (!node) return;
    if (node.range) {
      const pos = lineCounter.linePos(node.range[0]);
      positions.set(formatPath(path), { line: pos.line, column: pos.col });
    }
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        const child = [...path, key];
        // The key's position is the better pointer for a whole entry.
        if (isScalar(pair.key) && pair.key.range) {
          const pos = lineCounter.linePos(pair.key.range[0]);
          positions.set(formatPath(child), { line: pos.line, column: pos.col });
          record(pair.value as Node, child);
          positions.set(formatPath(child), { line: pos.line, column: pos.col });
        } else {
          record(pair.value as Node, child);
        }
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        record(item as Node, [...path, i]);
      });
    }
  };
  record(doc.contents as Node, []);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    throw new TemplateError('SYNTAX', '', `invalid YAML in the ${what}: ${(err as Error).message}`);
  }
  return { value, positions };
}

/** Adds the line and column of the nearest known ancestor of the error's path. */
export function locate(err: TemplateError, positions: Map<string, SourcePosition>): TemplateError {
  if (err.line !== null) return err;
  let key = err.path;
  while (true) {
    const pos = positions.get(key);
    if (pos) return err.at(pos.line, pos.column);
    if (key === '') return err;
    const cut = Math.max(key.lastIndexOf('.'), key.lastIndexOf('['));
    key = cut < 0 ? '' : key.slice(0, cut);
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export type { Path };
