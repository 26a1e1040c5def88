import { randomInt, randomUUID } from 'node:crypto';
import type { ResourcePlugin } from '../plugin';
import { badProperty, num } from './props';

const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';
const CLASSES: Record<string, string> = {
  lettersdigits: LETTERS + DIGITS,
  letters: LETTERS,
  lowercase: LETTERS.slice(26),
  uppercase: LETTERS.slice(0, 26),
  digits: DIGITS,
  hexdigits: `${DIGITS}ABCDEFabcdef`,
  octdigits: '01234567',
};

interface Need {
  chars: string;
  min: number;
}

function needs(props: Record<string, unknown>, path: string): { all: string; needs: Need[] } {
  const list: Need[] = [];
  const classes = Array.isArray(props.character_classes) ? props.character_classes : [];
  classes.forEach((c, i) => {
    const entry = (c ?? {}) as Record<string, unknown>;
    const name = String(entry.class ?? 'lettersdigits');
    const chars = CLASSES[name];
    if (!chars) throw badProperty(path, `character_classes[${i}].class`, `unknown class '${name}'`);
    list.push({ chars, min: num(entry, 'min', 1) });
  });
  const sets = Array.isArray(props.character_sets) ? props.character_sets : [];
  sets.forEach((s, i) => {
    const entry = (s ?? {}) as Record<string, unknown>;
    const chars = String(entry.set ?? '');
    if (chars === '') throw badProperty(path, `character_sets[${i}].set`, 'must not be empty');
    list.push({ chars, min: num(entry, 'min', 1) });
  });
  if (list.length === 0) {
    const seq = String(props.sequence ?? 'lettersdigits');
    const chars = CLASSES[seq];
    if (!chars) throw badProperty(path, 'sequence', `unknown sequence '${seq}'`);
    list.push({ chars, min: 0 });
  }
  return { all: [...new Set(list.map((n) => n.chars).join(''))].join(''), needs: list };
}

function generate(props: Record<string, unknown>, path: string): string {
  const length = num(props, 'length', 32);
  const spec = needs(props, path);
  const mins = spec.needs.reduce((s, n) => s + n.min, 0);
  if (length < 1 || length > 512) throw badProperty(path, 'length', 'must be between 1 and 512');
  if (mins > length)
    throw badProperty(path, 'length', `is shorter than the sum of the minimums (${mins})`);
  const out: string[] = [];
  for (const n of spec.needs) for (let i = 0; i < n.min; i++) out.push(pick(n.chars));
  while (out.length < length) out.push(pick(spec.all));
  // Shuffle so the required characters are not all at the start.
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out.join('');
}

const pick = (chars: string) => chars[randomInt(chars.length)];

/**
 * OS::Heat::RandomString: generated once and kept in the resource's data (stable across
 * reads and updates); any property change (salt included) replaces it with a new string.
 */
export const randomStringPlugin: ResourcePlugin = {
  type: 'OS::Heat::RandomString',
  properties: {
    length: { type: 'integer', default: 32 },
    sequence: { type: 'string' },
    character_classes: { type: 'list' },
    character_sets: { type: 'list' },
    salt: { type: 'string' },
  },
  attributes: ['value'],
  async validate(ctx, props) {
    generate(props, ctx.path);
  },
  async create(ctx, props) {
    // The physical id is not the secret itself, so events and lists never show it.
    return { physicalId: randomUUID(), data: { value: generate(props, ctx.path) } };
  },
  async delete() {},
  async attribute(_ctx, state, name) {
    if (name === 'value') return state.data.value ?? null;
    if (name === 'show') return { value: state.data.value ?? null };
    return null;
  },
};
