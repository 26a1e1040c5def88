import { InvalidInputError } from '../../../errors';
import type { ResourceContext } from '../plugin';
import { configPlugin, optionalList, optionalString } from './config-resource';
import { configText } from './config-store';
import { buildMultipart, type MimePart, parseMultipart } from './mime';

const PART_KEYS = ['config', 'filename', 'subtype', 'type'];

/** The MIME parts of the `parts` property, a config id resolved to that config's text. */
async function mimeParts(
  ctx: ResourceContext,
  props: Record<string, unknown>,
): Promise<MimePart[]> {
  const out: MimePart[] = [];
  const items = optionalList(ctx, props, 'parts');
  for (const [i, item] of items.entries()) {
    const at = `${ctx.path}.parts[${i}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      throw new InvalidInputError(at, `${at}: must be a map`);
    const part = item as Record<string, unknown>;
    for (const key of Object.keys(part)) {
      if (!PART_KEYS.includes(key))
        throw new InvalidInputError(
          `${at}.${key}`,
          `${at}.${key}: unknown key (allowed: ${PART_KEYS.join(', ')})`,
        );
    }
    const field = (key: string): string => {
      const value = part[key];
      if (value === undefined || value === null) return '';
      if (typeof value !== 'string')
        throw new InvalidInputError(`${at}.${key}`, `${at}.${key}: must be a string`);
      return value;
    };
    const config = field('config');
    if (part.config === undefined || part.config === null)
      throw new InvalidInputError(`${at}.config`, `${at}.config: is required`);
    const type = field('type') || 'text';
    if (type !== 'text' && type !== 'multipart')
      throw new InvalidInputError(`${at}.type`, `${at}.type: must be one of text, multipart`);
    // As Heat: a config that is the id of a software config stands for its text.
    const text = (await configText(ctx.svc.rt.db, config, ctx.stack.projectId)) ?? config;
    if (type === 'multipart') {
      out.push(...parseMultipart(text));
      continue;
    }
    const filename = field('filename');
    // Heat takes the filename without its extension as the subtype when none is given.
    const subtype = field('subtype') || withoutExtension(filename);
    out.push({ text, subtype, filename });
  }
  return out;
}

/** OS::Heat::MultipartMime: several configs in one multipart message for cloud-init. */
export const multipartMime = configPlugin(
  'OS::Heat::MultipartMime',
  { parts: { type: 'list', default: [] }, group: { type: 'string', default: 'Heat::Ungrouped' } },
  async (ctx, props) => ({
    group: optionalString(ctx, props, 'group', 'Heat::Ungrouped'),
    config: buildMultipart(await mimeParts(ctx, props)),
    inputs: [],
    outputs: [],
    options: {},
  }),
);

/** Python's os.path.splitext(name)[0]: a leading dot is not an extension. */
function withoutExtension(filename: string): string {
  const slash = filename.lastIndexOf('/');
  const dot = filename.lastIndexOf('.');
  const base = filename.slice(slash + 1, dot > slash ? dot : undefined);
  return dot > slash && base.replace(/^\.+/, '') !== '' ? filename.slice(0, dot) : filename;
}
