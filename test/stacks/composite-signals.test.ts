import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStackCreate } from '../../resolvers/stacks/engine/index';
import { configText } from '../../resolvers/stacks/resources/heat-composite/config-store';
import {
  type CompositeWorld,
  createStack,
  deleteStack,
  leftovers,
  outputs,
  resources,
  settle,
  signal,
  stackRow,
  startCompositeWorld,
} from './composite-support';

/**
 * Wait conditions signalled over HTTP as a guest's curl does (and through signalResource, as
 * the signalStack mutation does), one that times out and one told FAILURE; software configs
 * composed into a multipart text, all through the stacks engine on a real Stratus.
 */

let w: CompositeWorld;
beforeAll(async () => {
  w = await startCompositeWorld();
}, 60_000);
afterAll(() => w?.s.stop());

const waitTemplate = (count: number, timeout: number) => `
heat_template_version: 2016-10-14
resources:
  handle:
    type: OS::Heat::WaitConditionHandle
  wait:
    type: OS::Heat::WaitCondition
    properties:
      handle: {get_resource: handle}
      count: ${count}
      timeout: ${timeout}
outputs:
  curl_cli: {value: {get_attr: [handle, curl_cli]}}
  endpoint: {value: {get_attr: [handle, endpoint]}}
  data: {value: {get_attr: [wait, data]}}
`;

async function until<T>(get: () => Promise<T | null | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await get();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('condition never held');
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** The URL and headers of a curl_cli line, POSTed with fetch as the guest's curl would. */
async function curl(cli: string, body: unknown): Promise<Response> {
  const url = cli.split(' ').at(-1)!;
  const headers = Object.fromEntries(
    [...cli.matchAll(/-H '([^:]+): ([^']*)'/g)].map((m) => [m[1], m[2]]),
  );
  expect(cli).toMatch(/^curl -i -X POST /);
  return fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
}

describe('OS::Heat::WaitCondition', () => {
  it('completes on a curl POST to the handle plus a signalResource, with their data', async () => {
    const started = await startStackCreate(w.svc, {
      name: 'wait-ok',
      template: waitTemplate(2, 120),
    });
    // The handle exists (and its curl line) while the wait condition is still waiting.
    const cli = await until(async () => {
      const rows = await resources(w, started.id);
      if (rows.handle?.status !== 'COMPLETE') return null;
      const row = await stackRow(w, started.id);
      return (await outputs(w, row!)).curl_cli as string;
    });
    const response = await curl(cli, {
      status: 'SUCCESS',
      reason: 'booted',
      data: 'ready',
      id: 'web1',
    });
    expect(response.status, await response.text()).toBeLessThan(300);
    expect((await stackRow(w, started.id))?.status).toBe('IN_PROGRESS');
    await signal(w, started.id, 'handle', { data: 'second' });
    const done = await settle(w, started.id);
    expect(`${done?.action}_${done?.status}`, done?.statusReason).toBe('CREATE_COMPLETE');
    expect(JSON.parse((await outputs(w, done!)).data as string)).toEqual({
      web1: 'ready',
      '2': 'second',
    });
    await deleteStack(w, started.id);
    expect(await leftovers(w)).toEqual({ stacks: 0, resources: 0 });
  });

  it('fails on timeout, and on a FAILURE signal, naming the wait condition', async () => {
    const timedOut = await createStack(w, {
      name: 'wait-timeout',
      template: waitTemplate(1, 1),
      disableRollback: true,
    });
    expect(`${timedOut.action}_${timedOut.status}`).toBe('CREATE_FAILED');
    const wait = (await resources(w, timedOut.id)).wait;
    expect(wait.status).toBe('FAILED');
    expect(wait.statusReason).toMatch(/WaitConditionTimeout: resources\.wait: 0 of 1 received/);

    const started = await startStackCreate(w.svc, {
      name: 'wait-failure',
      template: waitTemplate(1, 120),
      disableRollback: true,
    });
    await until(async () => (await resources(w, started.id)).handle?.status === 'COMPLETE');
    await signal(w, started.id, 'handle', { status: 'FAILURE', reason: 'cloud-init failed' });
    const failed = await settle(w, started.id);
    expect(`${failed?.action}_${failed?.status}`).toBe('CREATE_FAILED');
    expect((await resources(w, started.id)).wait.statusReason).toMatch(/cloud-init failed/);

    await expect(signal(w, started.id, 'handle', { status: 'MAYBE' })).rejects.toThrow(
      /details\.status/,
    );
    await deleteStack(w, timedOut.id);
    await deleteStack(w, started.id);
    await expect(
      createStack(w, { name: 'wait-bad', template: waitTemplate(1, 0) }),
    ).rejects.toThrow(/resources\.wait\.properties\.timeout/);
    expect(await leftovers(w)).toEqual({ stacks: 0, resources: 0 });
  });
});

const B = /boundary="(={15}\d{19}==)"/;

describe('SoftwareConfig, CloudConfig and MultipartMime', () => {
  it('compose into the multipart text Heat builds; configText finds it by id for the owner only', async () => {
    const template = `
heat_template_version: 2016-10-14
resources:
  script:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      config: |
        #!/bin/sh
        echo hello
  cloud:
    type: OS::Heat::CloudConfig
    properties:
      cloud_config:
        packages: [nginx]
        package_update: true
  mime:
    type: OS::Heat::MultipartMime
    properties:
      parts:
        - config: {get_resource: cloud}
        - config: {get_resource: script}
          filename: hello.sh
          subtype: x-shellscript
        - config: plain text
outputs:
  script: {value: {get_attr: [script, config]}}
  cloud: {value: {get_attr: [cloud, config]}}
  mime: {value: {get_attr: [mime, config]}}
  mime_id: {value: {get_resource: mime}}
`;
    const stack = await createStack(w, { name: 'configs', template });
    expect(`${stack.action}_${stack.status}`, stack.statusReason).toBe('CREATE_COMPLETE');
    const out = await outputs(w, stack);
    expect(out.script).toBe('#!/bin/sh\necho hello\n');
    expect(out.cloud).toBe('#cloud-config\npackage_update: true\npackages:\n- nginx\n');
    const mime = out.mime as string;
    const boundary = mime.match(B)?.[1];
    expect(boundary).toBeTruthy();
    expect(mime).toBe(`Content-Type: multipart/mixed; boundary="${boundary}"
MIME-Version: 1.0

--${boundary}
Content-Type: text/plain; charset="us-ascii"
MIME-Version: 1.0
Content-Transfer-Encoding: 7bit

#cloud-config
package_update: true
packages:
- nginx

--${boundary}
Content-Type: text/x-shellscript; charset="us-ascii"
MIME-Version: 1.0
Content-Transfer-Encoding: 7bit
Content-Disposition: attachment; filename="hello.sh"

#!/bin/sh
echo hello

--${boundary}
Content-Type: text/plain; charset="us-ascii"
MIME-Version: 1.0
Content-Transfer-Encoding: 7bit

plain text
--${boundary}--
`);
    const db = w.s.stratus.runtime.db;
    expect(await configText(db, out.mime_id as string, w.projectId)).toBe(mime);
    expect(await configText(db, out.mime_id as string, crypto.randomUUID())).toBeNull();
    expect(await configText(db, 'not-an-id', w.projectId)).toBeNull();

    await deleteStack(w, stack.id);
    expect(await configText(db, out.mime_id as string, w.projectId)).toBeNull();
    expect(await leftovers(w)).toEqual({ stacks: 0, resources: 0 });
  });

  it('refuses a bad part type at its path and creates nothing', async () => {
    const template = `
heat_template_version: 2016-10-14
resources:
  mime:
    type: OS::Heat::MultipartMime
    properties:
      parts: [{config: x, type: html}]
`;
    await expect(createStack(w, { name: 'mime-bad', template })).rejects.toThrow(
      /resources\.mime\.properties\.parts\[0\]\.type/,
    );
    expect(await leftovers(w)).toEqual({ stacks: 0, resources: 0 });
  });
});
