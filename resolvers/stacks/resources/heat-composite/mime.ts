import { randomInt } from 'node:crypto';

/**
 * MIME multipart text as Heat's OS::Heat::MultipartMime builds it with Python's
 * email.mime (MIMEMultipart of MIMEText parts, as_string()), so cloud-init reads it the same.
 */

export interface MimePart {
  text: string;
  /** MIME subtype (text/<subtype>); empty: plain. */
  subtype: string;
  filename: string;
}

/** Python's email.generator boundary: 15 '=' + 19 digits + '=='. */
export function pythonBoundary(): string {
  let digits = '';
  for (let i = 0; i < 19; i++) digits += String(randomInt(10));
  return `${'='.repeat(15)}${digits}==`;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ASCII is 0x00-0x7f
const ASCII = /^[\x00-\x7f]*$/;

/** base64 in 76-character lines, each ending in a newline (email.base64mime.body_encode). */
function base64Lines(text: string): string {
  const b64 = Buffer.from(text, 'utf8').toString('base64');
  let out = '';
  for (let i = 0; i < b64.length; i += 76) out += `${b64.slice(i, i + 76)}\n`;
  return out;
}

/** One MIMEText part: us-ascii as 7bit, anything else utf-8 in base64 (Heat's charset choice). */
function textPart(part: MimePart): string {
  const ascii = ASCII.test(part.text);
  const charset = ascii ? 'us-ascii' : 'utf-8';
  const lines = [
    `Content-Type: text/${part.subtype || 'plain'}; charset="${charset}"`,
    'MIME-Version: 1.0',
    `Content-Transfer-Encoding: ${ascii ? '7bit' : 'base64'}`,
  ];
  if (part.filename) lines.push(`Content-Disposition: attachment; filename="${part.filename}"`);
  return `${lines.join('\n')}\n\n${ascii ? part.text : base64Lines(part.text)}`;
}

/** The whole message; `boundary` fixed for tests, random (as Python's) otherwise. */
export function buildMultipart(parts: readonly MimePart[], boundary = pythonBoundary()): string {
  let out = `Content-Type: multipart/mixed; boundary="${boundary}"\nMIME-Version: 1.0\n\n`;
  out += `--${boundary}\n`;
  out += parts.map(textPart).join(`\n--${boundary}\n`);
  out += `\n--${boundary}--\n`;
  return out;
}

function headerMap(block: string): Map<string, string> {
  const headers = new Map<string, string>();
  // Folded header lines continue with whitespace.
  for (const line of block.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0)
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

function param(header: string | undefined, name: string): string {
  const match = header?.match(new RegExp(`${name}="?([^";]*)"?`, 'i'));
  return match ? match[1] : '';
}

/**
 * The parts of a multipart text (a `type: multipart` part), each with its subtype and
 * filename; [] when the text is not multipart, as Heat skips it.
 */
export function parseMultipart(text: string): MimePart[] {
  const split = text.search(/\r?\n\r?\n/);
  if (split < 0) return [];
  const headers = headerMap(text.slice(0, split));
  const type = headers.get('content-type') ?? '';
  if (!/^multipart\//i.test(type)) return [];
  const boundary = param(type, 'boundary');
  if (!boundary) return [];
  const body = text.slice(split).replace(/^\r?\n\r?\n/, '');
  const delimiter = `--${boundary}`;
  const chunks = `\n${body}`.split(`\n${delimiter}`);
  const parts: MimePart[] = [];
  // chunks[0] is the preamble; a chunk starting with "--" is the close delimiter.
  for (const chunk of chunks.slice(1)) {
    if (chunk.startsWith('--')) break;
    const content = chunk.replace(/^[ \t]*\r?\n/, '');
    const end = content.search(/\r?\n\r?\n/);
    const partHeaders = headerMap(end < 0 ? content : content.slice(0, end));
    let payload = end < 0 ? '' : content.slice(end).replace(/^\r?\n\r?\n/, '');
    if ((partHeaders.get('content-transfer-encoding') ?? '').toLowerCase() === 'base64') {
      payload = Buffer.from(payload.replace(/\s+/g, ''), 'base64').toString('utf8');
    }
    const subtype = (partHeaders.get('content-type') ?? 'text/plain').split(';')[0].split('/')[1];
    parts.push({
      text: payload,
      subtype: subtype?.trim() || 'plain',
      filename: param(partHeaders.get('content-disposition'), 'filename'),
    });
  }
  return parts;
}
