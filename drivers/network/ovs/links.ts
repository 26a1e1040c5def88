import fs from 'node:fs/promises';
import { Batcher } from './batcher';
import { CommandError, isNotFound, run } from './run';

/** Whether a network interface exists in the root namespace. */
export async function linkExists(name: string): Promise<boolean> {
  try {
    await fs.access(`/sys/class/net/${name}`);
    return true;
  } catch {
    return false;
  }
}

interface TapRequest {
  name: string;
  mtu: number;
}

/**
 * Persistent taps (`ip tuntap add mode tap`), created in shared `ip -batch` calls; each one
 * is checked afterwards so a failure is reported to its own caller.
 */
const tapBatcher = new Batcher<TapRequest>(async (taps) => {
  const lines: string[] = [];
  const fresh = await Promise.all(taps.map(async (t) => !(await linkExists(t.name))));
  taps.forEach((t, i) => {
    if (fresh[i]) lines.push(`tuntap add dev ${t.name} mode tap`);
    lines.push(`link set dev ${t.name} mtu ${t.mtu} up`);
  });
  let stderr = '';
  try {
    await run('ip', ['-force', '-batch', '-'], { input: `${lines.join('\n')}\n` });
  } catch (err) {
    stderr = err instanceof CommandError ? err.stderr : String(err);
  }
  if (!stderr) return taps.map(() => null);
  // Something failed: find out which taps are not there, or not up with their MTU.
  return Promise.all(
    taps.map(async (t) => {
      try {
        const mtu = Number((await fs.readFile(`/sys/class/net/${t.name}/mtu`, 'utf8')).trim());
        return mtu === t.mtu
          ? null
          : new Error(`tap ${t.name}: could not set MTU ${t.mtu}: ${stderr}`);
      } catch {
        return new Error(`tap ${t.name} could not be created: ${stderr}`);
      }
    }),
  );
});

/** Creates (or keeps) the tap `name`, up, with `mtu`. */
export function ensureTap(name: string, mtu: number): Promise<void> {
  return tapBatcher.submit({ name, mtu });
}

/** Deletes an interface of the root namespace; a missing one is fine. */
export async function deleteLink(name: string, namespace?: string): Promise<void> {
  try {
    await run('ip', [...(namespace ? ['-n', namespace] : []), 'link', 'del', 'dev', name]);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** Whether namespace `name` exists. */
export async function namespaceExists(name: string): Promise<boolean> {
  try {
    await fs.access(`/run/netns/${name}`);
    return true;
  } catch {
    return false;
  }
}

/** Every named network namespace. */
export async function listNamespaces(): Promise<string[]> {
  try {
    return await fs.readdir('/run/netns');
  } catch {
    return [];
  }
}

/** Creates namespace `name` with its loopback up; returns whether it was created now. */
export async function ensureNamespace(name: string): Promise<boolean> {
  if (await namespaceExists(name)) return false;
  await run('ip', ['netns', 'add', name]);
  try {
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    await deleteNamespace(name);
    throw err;
  }
  return true;
}

/** Deletes namespace `name` (its interfaces go with it); a missing one is fine. */
export async function deleteNamespace(name: string): Promise<void> {
  if (!(await namespaceExists(name))) return;
  try {
    await run('ip', ['netns', 'del', name]);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/**
 * A veth pair: `outer` in the root namespace (it goes on the bridge), `inner` in `namespace`
 * (or the root namespace when null) with `mac`. Both up with `mtu`. Returns whether it was
 * created now. An existing pair keeps its ends; its MTU and MAC are brought to the spec.
 */
export async function ensureVeth(
  outer: string,
  inner: string,
  namespace: string | null,
  mtu: number,
  mac: string | null,
): Promise<boolean> {
  const ns = namespace ? ['-n', namespace] : [];
  let created = false;
  if (!(await linkExists(outer))) {
    // A dangling inner end (its peer was removed by hand) would block the name.
    await deleteLink(inner, namespace ?? undefined);
    await run('ip', [
      ...['link', 'add', outer, 'mtu', String(mtu), 'type', 'veth'],
      ...['peer', 'name', inner, 'mtu', String(mtu)],
      ...(namespace ? ['netns', namespace] : []),
    ]);
    created = true;
  }
  try {
    await run('ip', ['link', 'set', 'dev', outer, 'mtu', String(mtu), 'up']);
    await run('ip', [
      ...ns,
      ...['link', 'set', 'dev', inner, 'mtu', String(mtu)],
      ...(mac ? ['address', mac] : []),
      'up',
    ]);
  } catch (err) {
    if (created) await deleteLink(outer);
    throw err;
  }
  return created;
}

/** Makes the addresses of `dev` exactly `cidrs` (address/prefix), adding and removing. */
export async function syncAddresses(
  namespace: string | null,
  dev: string,
  cidrs: string[],
): Promise<void> {
  const ns = namespace ? ['-n', namespace] : [];
  const out = await run('ip', [...ns, '-j', 'addr', 'show', 'dev', dev]);
  const info = JSON.parse(out) as {
    addr_info: { family: string; local: string; prefixlen: number; scope: string }[];
  }[];
  const have = new Set(
    (info[0]?.addr_info ?? [])
      .filter((a) => a.scope !== 'link')
      .map((a) => `${a.local}/${a.prefixlen}`),
  );
  const want = new Set(cidrs.map(canonicalCidr));
  for (const cidr of want) {
    if (!have.has(cidr)) await run('ip', [...ns, 'addr', 'add', cidr, 'dev', dev]);
  }
  for (const cidr of have) {
    if (!want.has(cidr)) await run('ip', [...ns, 'addr', 'del', cidr, 'dev', dev]);
  }
}

/** `ip` prints IPv6 addresses compressed and lowercase; bring ours to the same form. */
function canonicalCidr(cidr: string): string {
  const [address, prefix] = cidr.split('/');
  if (!address.includes(':')) return cidr;
  return `${new URL(`http://[${address}]/`).hostname.slice(1, -1)}/${prefix}`;
}
