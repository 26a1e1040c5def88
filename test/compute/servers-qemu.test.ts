import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadComputeDriver } from '../../drivers/compute/index';
import type { InstanceStatus } from '../../drivers/compute/types';
import { type ComputeConfig, loadConfig } from '../../server/config';
import {
  createFlavor,
  createServer,
  getServer,
  qemuCompute,
  rawId,
  serverAction,
  uploadTestGuest,
  waitForOperation,
  waitForStatus,
} from '../support/compute';
import {
  createTestDatabase,
  dropTestDatabase,
  type Json,
  startTestStratus,
  type TestStratus,
} from '../support/harness';
import { qemuSkipReason } from '../support/host-tools';
import { Seed, type SeededUser } from '../support/seed';

/**
 * Servers end to end on real QEMU (TCG), through the HTTP and WebSocket API only: the test guest
 * (test/guest/README.md) boots from an aki/ari/ami trio, prints STRATUS-GUEST-BOOT-OK and its
 * user data on ttyS0, and powers off on the ACPI button. Every state the API reports is checked
 * against what the host really runs: QMP's status through the driver, the QEMU pid, its command
 * line, the guest's console. One Stratus (restarted once on the same database) and two servers
 * reused across the steps keep the number of TCG boots small. No wall-clock assertions: TCG on
 * a loaded machine is slow, every wait is generous.
 */

const skipReason = qemuSkipReason();
const skip = skipReason !== null;
const title = skip
  ? `servers on real QEMU (skipped: ${skipReason})`
  : 'servers on real QEMU through the API';

const BOOT = 'STRATUS-GUEST-BOOT-OK';
const WAIT = 120_000;
const STEP = 300_000;
const USER_DATA = '#cloud-config\nhostname: from-stratus\n';

const SERVER_WATCH = `status taskState powerState`;

describe.skipIf(skip)(title, () => {
  let s: TestStratus;
  let databaseUrl: string;
  let objectsRoot: string;
  let compute: ComputeConfig;
  let member: SeededUser;
  let token: string;
  let small: string;
  let big: string;
  let bigger: string;
  let guestImage: string;
  let snapshotImage: string;
  /** Server A: built with user data, acted on, snapshotted, resized, rebuilt, survives a restart. */
  let a: string;
  /** Server B: booted from A's snapshot, killed, started, deleted. */
  let b: string;
  /** Between stopping the first Stratus and starting the second one. */
  let stopped = false;

  /** The test Stratus's compute driver (the current process's, after the restart). */
  const driver = () => s.stratus.runtime.compute!.driver;
  const host = (id: string): Promise<InstanceStatus> => driver().status(rawId(id));
  const instanceDir = (id: string) =>
    path.join(String(compute.driverConfig.stateDir), 'instances', rawId(id));

  async function start(): Promise<TestStratus> {
    return startTestStratus(
      { compute, objects: { ...loadConfig({}).objects, driverConfig: { root: objectsRoot } } },
      databaseUrl,
    );
  }

  beforeAll(async () => {
    databaseUrl = await createTestDatabase();
    objectsRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-objects-'));
    compute = qemuCompute(loadConfig({}).compute);
    s = await start();
    expect(s.stratus.runtime.compute?.driver.info().name).toBe('qemu');
    member = await new Seed(s).member('member');
    token = member.token!;
    small = await createFlavor(s, { name: 'q1.small', vcpus: 1, ramMib: 256 });
    big = await createFlavor(s, { name: 'q1.big', vcpus: 2, ramMib: 320 });
    bigger = await createFlavor(s, { name: 'q1.bigger', vcpus: 2, ramMib: 384 });
    guestImage = await uploadTestGuest(s, token);
  }, 15 * 60_000);

  afterAll(async () => {
    if (s && !stopped) await s.stop();
    if (compute) {
      // Whatever a failed step left behind: a driver of its own on the same state folder ends
      // every VM there (the Stratus above only detached from them).
      const d = await loadComputeDriver('qemu', compute.driverConfig);
      for (const id of await d.list({ all: true })) await d.destroy(id);
      await d.close();
      await fs.rm(String(compute.driverConfig.stateDir), { recursive: true, force: true });
    }
    if (databaseUrl) await dropTestDatabase(databaseUrl);
    if (objectsRoot) await fs.rm(objectsRoot, { recursive: true, force: true });
  }, STEP);

  async function until<T>(probe: () => Promise<T | undefined | null | false>, what: string) {
    const deadline = Date.now() + WAIT;
    for (;;) {
      const value = await probe();
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out after ${WAIT} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async function consoleOutput(id: string, lastLines?: number): Promise<string> {
    const data = await s.ok(
      `query($id: ID!, $n: Int) { node(id: $id) { ... on Server { consoleOutput(lastLines: $n) } } }`,
      { id, n: lastLines ?? null },
      token,
    );
    return data.node.consoleOutput ?? '';
  }

  const count = (text: string, needle: string) => text.split(needle).length - 1;

  /** The console once `needle` appears at least `n` times in it. */
  const consoleWith = (id: string, needle: string, n = 1) =>
    until(async () => {
      const text = await consoleOutput(id);
      return count(text, needle) >= n ? text : undefined;
    }, `${n} × "${needle}" on the console of ${id}`);

  /**
   * Waits for the guest's `/init` to be past its ACPI setup after its `n`th boot: the first
   * STRATUS-BLOCK line after that boot line (the README: a power button pressed earlier may
   * be lost). Soft reboots and stops are then answered by the guest itself.
   */
  const settled = (id: string, n: number) =>
    until(async () => {
      const text = await consoleOutput(id);
      const boots = text.split(BOOT);
      return boots.length - 1 >= n && boots[n].includes('STRATUS-BLOCK') ? text : undefined;
    }, `boot ${n} of ${id} to reach its first STRATUS-BLOCK line`);

  /** Runs an action, checks it started and its operation succeeded, then waits for `status`. */
  async function act(
    mutation: string,
    input: Record<string, unknown>,
    status: string,
    inputType?: string,
  ): Promise<Json> {
    const started = await serverAction(s, token, mutation, input, inputType);
    expect(started.__typename, JSON.stringify(started)).toBe(
      `${mutation[0].toUpperCase()}${mutation.slice(1)}Success`,
    );
    const op = await waitForOperation(s, token, started.started.operation.id, WAIT);
    expect(op, JSON.stringify(op)).toMatchObject({ status: 'SUCCEEDED' });
    expect(op.stages.every((st: { status: string }) => st.status === 'DONE')).toBe(true);
    return waitForStatus(s, token, input.id as string, status, WAIT);
  }

  async function processGone(pid: number): Promise<boolean> {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    // A zombie (nobody reaped the daemonized QEMU yet) is gone as well.
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    return stat === '' || / [ZX] /.test(stat.slice(stat.lastIndexOf(')')));
  }

  /** QEMU's -smp and -m values from the running process's command line. */
  async function qemuSize(pid: number): Promise<{ smp: string; memory: string }> {
    const argv = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    return { smp: argv[argv.indexOf('-smp') + 1], memory: argv[argv.indexOf('-m') + 1] };
  }

  /** The backing file of a server's root disk overlay. */
  function backingFile(id: string): string {
    const info = JSON.parse(
      execFileSync(
        'qemu-img',
        ['info', '-U', '--output=json', path.join(instanceDir(id), 'disk.qcow2')],
        {
          encoding: 'utf8',
        },
      ),
    );
    return info['backing-filename'];
  }

  async function quota(): Promise<Record<string, number>> {
    const data = await s.ok(
      `query($p: ID!) { projectQuota(projectId: $p) { resource inUse } }`,
      { p: member.projectId },
      token,
    );
    return Object.fromEntries(
      data.projectQuota
        .filter((q: { resource: string }) => ['instances', 'cores', 'ram_mib'].includes(q.resource))
        .map((q: { resource: string; inUse: number }) => [q.resource, q.inUse]),
    );
  }

  it(
    'builds a server through every BUILD step, in order, and shows its boot and user data',
    async () => {
      // From the first stored event: nothing of the build can be missed, however fast it runs.
      const sub = s.subscribe(
        `subscription { servers(after: "0") { id ${SERVER_WATCH} } }`,
        {},
        token,
      );
      const before = await quota();
      const result = await createServer(s, token, {
        name: 'qemu-a',
        imageId: guestImage,
        flavorId: small,
        userData: USER_DATA,
      });
      expect(result.__typename, JSON.stringify(result)).toBe('CreateServerSuccess');
      a = result.created.server.id;
      const op = await waitForOperation(s, token, result.created.operation.id, WAIT);
      expect(op, JSON.stringify(op)).toMatchObject({ status: 'SUCCEEDED' });
      expect(op.stages).toEqual([
        { name: 'scheduling', status: 'DONE' },
        { name: 'fetching-image', status: 'DONE' },
        { name: 'creating-disk', status: 'DONE' },
        { name: 'spawning', status: 'DONE' },
      ]);
      await waitForStatus(s, token, a, 'ACTIVE', WAIT);

      const mine = () =>
        sub.values.map((v) => v.data.servers).filter((v: { id: string }) => v.id === a);
      await until(async () => mine().some((v) => v.status === 'ACTIVE'), 'the ACTIVE event');
      expect(mine().map((v) => [v.status, v.taskState, v.powerState])).toEqual([
        ['BUILD', 'scheduling', 'nostate'],
        ['BUILD', 'block_device_mapping', 'nostate'],
        ['BUILD', 'spawning', 'nostate'],
        ['ACTIVE', null, 'running'],
      ]);
      sub.close();

      // The host runs it, and quota counts it.
      const status = await host(a);
      expect(status).toMatchObject({ running: true, qmpStatus: 'running', powerState: 'running' });
      expect(existsSync(instanceDir(a))).toBe(true);
      expect(await quota()).toEqual({
        instances: before.instances + 1,
        cores: before.cores + 1,
        ram_mib: before.ram_mib + 256,
      });

      // The guest booted and read the user data from fw_cfg, verbatim.
      await consoleWith(a, BOOT);
      const text = await consoleWith(a, 'STRATUS-USERDATA-END');
      expect(text.replace(/\r/g, '')).toContain(
        `STRATUS-USERDATA-BEGIN\n${USER_DATA}STRATUS-USERDATA-END`,
      );
      // lastLines keeps only the tail (the guest keeps writing: compare with a later full read).
      const tail = await consoleOutput(a, 3);
      expect(tail.trimEnd().split('\n')).toHaveLength(3);
      expect(await consoleOutput(a)).toContain(tail);
      expect(text.length).toBeGreaterThan(tail.length);
    },
    STEP,
  );

  it(
    'stops, starts, reboots (soft and hard), pauses, unpauses, suspends and resumes, as QMP sees it',
    async () => {
      await settled(a, 1);
      const firstPid = (await host(a)).pid!;
      expect(firstPid).toEqual(expect.any(Number));

      // stop: the QEMU process ends, the disk and folder stay.
      const off = await act('stopServer', { id: a }, 'SHUTOFF');
      expect(off.powerState).toBe('shutdown');
      expect(await host(a)).toMatchObject({ running: false, pid: null, qmpStatus: null });
      expect(await until(() => processGone(firstPid), `pid ${firstPid} to end`)).toBe(true);
      expect(existsSync(instanceDir(a))).toBe(true);

      // start: a new process boots the guest again (the console log is appended to).
      const started = await act('startServer', { id: a }, 'ACTIVE');
      expect(started.powerState).toBe('running');
      const afterStart = await host(a);
      expect(afterStart).toMatchObject({ running: true, qmpStatus: 'running' });
      expect(afterStart.pid).not.toBe(firstPid);
      await settled(a, 2);

      // Soft reboot: ACPI, the guest powers off, a new process boots it.
      await act('rebootServer', { id: a, hard: false }, 'ACTIVE', 'RebootServerInput');
      const soft = await settled(a, 3);
      // The guest itself powered off on the ACPI button before booting again.
      expect(soft.split(BOOT)[2]).toContain('STRATUS-POWEROFF');
      const afterSoft = await host(a);
      expect(afterSoft).toMatchObject({ running: true, qmpStatus: 'running' });
      expect(afterSoft.pid).not.toBe(afterStart.pid);
      expect(await processGone(afterStart.pid!)).toBe(true);

      // Hard reboot: a machine reset in the same process.
      await act('rebootServer', { id: a, hard: true }, 'ACTIVE', 'RebootServerInput');
      await settled(a, 4);
      expect(await host(a)).toMatchObject({
        running: true,
        qmpStatus: 'running',
        pid: afterSoft.pid,
      });

      // Pause / unpause: QMP stop / cont.
      const paused = await act('pauseServer', { id: a }, 'PAUSED');
      expect(paused.powerState).toBe('paused');
      expect(await host(a)).toMatchObject({ qmpStatus: 'paused', powerState: 'paused' });
      const unpaused = await act('unpauseServer', { id: a }, 'ACTIVE');
      expect(unpaused.powerState).toBe('running');
      expect(await host(a)).toMatchObject({ qmpStatus: 'running', powerState: 'running' });

      // Suspend / resume: frozen in place (see drivers/compute/types.ts), reported suspended.
      const suspended = await act('suspendServer', { id: a }, 'SUSPENDED');
      expect(suspended.powerState).toBe('suspended');
      expect(await host(a)).toMatchObject({ qmpStatus: 'paused', powerState: 'suspended' });
      await act('resumeServer', { id: a }, 'ACTIVE');
      expect(await host(a)).toMatchObject({
        running: true,
        qmpStatus: 'running',
        powerState: 'running',
        pid: afterSoft.pid,
      });
      // The guest runs again: it keeps printing.
      const lines = count(await consoleOutput(a), 'STRATUS-BLOCK');
      await consoleWith(a, 'STRATUS-BLOCK', lines + 1);

      // Every action is recorded, newest first, and none failed.
      const data = await s.ok(
        `query($id: ID!) { node(id: $id) { ... on Server { actions { action message events { event result } } } } }`,
        { id: a },
        token,
      );
      expect(data.node.actions.map((x: { action: string }) => x.action)).toEqual([
        'resume',
        'suspend',
        'unpause',
        'pause',
        'reboot',
        'reboot',
        'start',
        'stop',
        'create',
      ]);
      for (const action of data.node.actions) {
        expect(action.message, JSON.stringify(action)).toBeNull();
        for (const e of action.events) expect(e.result, JSON.stringify(action)).toBe('Success');
      }
    },
    STEP,
  );

  it(
    'snapshots a running server into an active qcow2 image that boots a second server',
    async () => {
      const pid = (await host(a)).pid;
      const data = await s.ok(
        `mutation($input: CreateServerImageInput!) { createServerImage(input: $input) {
          __typename ... on Error { message }
          ... on CreateServerImageSuccess { started { image { id status } operation { id } } } } }`,
        { input: { id: a, name: 'qemu-a-snapshot' } },
        token,
      );
      const started = data.createServerImage;
      expect(started.__typename, JSON.stringify(started)).toBe('CreateServerImageSuccess');
      snapshotImage = started.started.image.id;
      expect(started.started.image.status).toBe('queued');
      const op = await waitForOperation(s, token, started.started.operation.id, WAIT);
      expect(op, JSON.stringify(op)).toMatchObject({ status: 'SUCCEEDED' });
      await waitForStatus(s, token, a, 'ACTIVE', WAIT);
      // Frozen for the copy, thawed after it, in the same process.
      expect(await host(a)).toMatchObject({ qmpStatus: 'running', pid });

      const image = (
        await s.ok(
          `query($id: ID!) { node(id: $id) { ... on Image { id status diskFormat sizeBytes virtualSizeBytes fileUrl properties } } }`,
          { id: snapshotImage },
          token,
        )
      ).node;
      expect(image).toMatchObject({ status: 'active', diskFormat: 'qcow2' });
      expect(image.properties).toMatchObject({
        image_type: 'snapshot',
        instance_uuid: rawId(a),
      });
      expect(image.virtualSizeBytes).toBe(1024 ** 3);
      const res = await fetch(image.fileUrl, { headers: { 'X-Auth-Token': token } });
      expect(res.status).toBe(200);
      const bytes = Buffer.from(await res.arrayBuffer());
      expect(bytes.length).toBe(image.sizeBytes);
      // A qcow2 header: magic "QFI\xfb", version 2 or 3, and no backing file (offset 8, 8 bytes).
      expect(bytes.subarray(0, 4)).toEqual(Buffer.from([0x51, 0x46, 0x49, 0xfb]));
      expect(bytes.readBigUInt64BE(8)).toBe(0n);

      // The snapshot is the root disk only; the guest boots from a kernel: name the guest's.
      const guest = (
        await s.ok(
          `query($id: ID!) { node(id: $id) { ... on Image { properties } } }`,
          { id: guestImage },
          token,
        )
      ).node;
      const { kernel_id, ramdisk_id, os_command_line } = guest.properties;
      const updated = await s.ok(
        `mutation($input: UpdateImageInput!) { updateImage(input: $input) { __typename ... on Error { message } } }`,
        {
          input: {
            id: snapshotImage,
            properties: { ...image.properties, kernel_id, ramdisk_id, os_command_line },
          },
        },
        token,
      );
      expect(updated.updateImage.__typename).toBe('UpdateImageSuccess');

      const result = await createServer(s, token, {
        name: 'qemu-b',
        imageId: snapshotImage,
        flavorId: small,
      });
      expect(result.__typename, JSON.stringify(result)).toBe('CreateServerSuccess');
      b = result.created.server.id;
      const built = await waitForOperation(s, token, result.created.operation.id, WAIT);
      expect(built, JSON.stringify(built)).toMatchObject({ status: 'SUCCEEDED' });
      const server = await waitForStatus(s, token, b, 'ACTIVE', WAIT);
      expect(server.image.id).toBe(snapshotImage);
      expect(await host(b)).toMatchObject({ running: true, qmpStatus: 'running' });
      // It boots from an overlay over the snapshot, cached on this host.
      expect(backingFile(b)).toBe(path.join(compute.imageCacheDir, rawId(snapshotImage)));
      await consoleWith(b, BOOT);
      // No user data was given: the guest finds no fw_cfg entry for it.
      await consoleWith(b, 'STRATUS-USERDATA-NONE');
    },
    STEP,
  );

  it(
    'resizes to a bigger flavor (confirmed, then another one reverted) and rebuilds with another image',
    async () => {
      const before = await quota();
      const boots = count(await consoleOutput(a), BOOT);

      // Resize: powered off, resized, booted again with 2 vCPUs and 320 MiB, in VERIFY_RESIZE.
      const verify = await act(
        'resizeServer',
        { id: a, flavorId: big },
        'VERIFY_RESIZE',
        'ResizeServerInput',
      );
      expect(verify.flavor).toMatchObject({ name: 'q1.big', vcpus: 2, ramMib: 320 });
      expect(verify.powerState).toBe('running');
      const resized = await host(a);
      expect(resized).toMatchObject({ running: true, qmpStatus: 'running' });
      expect(await qemuSize(resized.pid!)).toEqual({ smp: '2', memory: '320M' });
      // The guest sees it: the kernel brings up two CPUs on the new boot.
      const text = await consoleWith(a, BOOT, boots + 1);
      expect(text.split(BOOT).at(-2)).toContain('smp: Brought up 1 node, 2 CPUs');
      // Quota holds the larger size.
      expect(await quota()).toMatchObject({
        cores: before.cores + 1,
        ram_mib: before.ram_mib + 64,
      });

      // Confirm: the new size stays, nothing restarts.
      const confirmed = await act('confirmServerResize', { id: a }, 'ACTIVE');
      expect(confirmed.flavor).toMatchObject({ name: 'q1.big', vcpus: 2, ramMib: 320 });
      expect((await host(a)).pid).toBe(resized.pid);
      await expect(driver().hasPendingResize(rawId(a))).resolves.toBe(false);

      // Resize again, then revert: back to 320 MiB in a new process.
      await settled(a, boots + 1);
      await act('resizeServer', { id: a, flavorId: bigger }, 'VERIFY_RESIZE', 'ResizeServerInput');
      const larger = await host(a);
      expect(await qemuSize(larger.pid!)).toEqual({ smp: '2', memory: '384M' });
      expect(await quota()).toMatchObject({ ram_mib: before.ram_mib + 128 });
      await settled(a, boots + 2);
      const reverted = await act('revertServerResize', { id: a }, 'ACTIVE');
      expect(reverted.flavor).toMatchObject({ name: 'q1.big', ramMib: 320 });
      const back = await host(a);
      expect(back).toMatchObject({ running: true, qmpStatus: 'running' });
      expect(back.pid).not.toBe(larger.pid);
      expect(await qemuSize(back.pid!)).toEqual({ smp: '2', memory: '320M' });
      await expect(driver().hasPendingResize(rawId(a))).resolves.toBe(false);
      expect(await quota()).toMatchObject({
        cores: before.cores + 1,
        ram_mib: before.ram_mib + 64,
      });
      await consoleWith(a, BOOT, boots + 3);

      // Rebuild from the snapshot image: a new disk, the same id, user data and size.
      const cache = compute.imageCacheDir;
      expect(backingFile(a)).toBe(path.join(cache, rawId(guestImage)));
      await settled(a, boots + 3);
      const rebuilt = await act(
        'rebuildServer',
        { id: a, imageId: snapshotImage },
        'ACTIVE',
        'RebuildServerInput',
      );
      expect(rebuilt.image.id).toBe(snapshotImage);
      expect(backingFile(a)).toBe(path.join(cache, rawId(snapshotImage)));
      expect(rebuilt.flavor).toMatchObject({ name: 'q1.big' });
      const afterRebuild = await host(a);
      expect(afterRebuild).toMatchObject({ running: true, qmpStatus: 'running' });
      expect(await qemuSize(afterRebuild.pid!)).toEqual({ smp: '2', memory: '320M' });
      // The rebuilt guest boots once more and still gets the server's user data.
      const after = await until(async () => {
        const text = await consoleOutput(a);
        const last = text.split(BOOT)[boots + 4];
        return last?.includes('STRATUS-USERDATA-END') ? last : undefined;
      }, 'the user data after the rebuild');
      expect(after.replace(/\r/g, '')).toContain(
        `STRATUS-USERDATA-BEGIN\n${USER_DATA}STRATUS-USERDATA-END`,
      );
    },
    STEP,
  );

  it(
    'notices a kill -9 of QEMU: SHUTOFF with a server event and an instance action saying why',
    async () => {
      const sub = s.subscribe(
        `subscription($id: ID!) { server(id: $id) { ${SERVER_WATCH} } }`,
        { id: b },
        token,
      );
      const actions = s.subscribe(
        `subscription($id: ID!) { instanceActions(serverId: $id) { action message requestId } }`,
        { id: b },
        token,
      );
      await sub.waitFor(1, WAIT);
      expect(sub.values[0].data.server.status).toBe('ACTIVE');
      const { pid } = await host(b);
      process.kill(pid!, 'SIGKILL');

      await until(
        async () => sub.values.some((v) => v.data?.server.status === 'SHUTOFF'),
        'the SHUTOFF event',
      );
      expect(sub.values.at(-1).data.server).toEqual({
        status: 'SHUTOFF',
        taskState: null,
        powerState: 'shutdown',
      });
      expect(await until(() => processGone(pid!), `pid ${pid} to end`)).toBe(true);
      expect(await host(b)).toMatchObject({ running: false, pid: null });
      const action = await until(
        async () => actions.values.map((v) => v.data?.instanceActions).find((x) => x?.message),
        'the stop action',
      );
      expect(action).toEqual({
        action: 'stop',
        message: 'The hypervisor process ended unexpectedly',
        requestId: 'compute-agent',
      });
      sub.close();
      actions.close();
      const server = await getServer(s, token, b);
      expect(server.status).toBe('SHUTOFF');

      // And it starts again from its disk.
      await act('startServer', { id: b }, 'ACTIVE');
      expect(await host(b)).toMatchObject({ running: true, qmpStatus: 'running' });

      // Killed while its resize waits for confirmation, it stays in VERIFY_RESIZE (shut off):
      // the host still keeps the previous size, to confirm or revert.
      await act('resizeServer', { id: b, flavorId: big }, 'VERIFY_RESIZE', 'ResizeServerInput');
      const resized = (await host(b)).pid!;
      process.kill(resized, 'SIGKILL');
      const killed = await until(async () => {
        const row = await getServer(s, token, b);
        return row.powerState === 'shutdown' ? row : undefined;
      }, 'the resized server to be seen shut off');
      expect(killed).toMatchObject({ status: 'VERIFY_RESIZE', taskState: null });
      await expect(driver().hasPendingResize(rawId(b))).resolves.toBe(true);
      const confirmed = await act('confirmServerResize', { id: b }, 'SHUTOFF');
      expect(confirmed.flavor).toMatchObject({ name: 'q1.big', vcpus: 2, ramMib: 320 });
      await expect(driver().hasPendingResize(rawId(b))).resolves.toBe(false);
      await act('startServer', { id: b }, 'ACTIVE');
      expect(await qemuSize((await host(b)).pid!)).toEqual({ smp: '2', memory: '320M' });
    },
    STEP,
  );

  it(
    'deletes a running server: no process, no instance folder, DELETED, quota back',
    async () => {
      const before = await quota();
      const { pid } = await host(b);
      const data = await serverAction(s, token, 'deleteServer', { id: b });
      expect(data.__typename, JSON.stringify(data)).toBe('DeleteServerSuccess');
      const op = await waitForOperation(s, token, data.started.operation.id, WAIT);
      expect(op, JSON.stringify(op)).toMatchObject({ status: 'SUCCEEDED' });
      const server = await waitForStatus(s, token, b, 'DELETED', WAIT);
      expect(server.terminatedAt).not.toBeNull();
      expect(await until(() => processGone(pid!), `pid ${pid} to end`)).toBe(true);
      expect(existsSync(instanceDir(b))).toBe(false);
      expect(await driver().list({ all: true })).not.toContain(rawId(b));
      expect(await quota()).toEqual({
        instances: before.instances - 1,
        cores: before.cores - 2,
        ram_mib: before.ram_mib - 320,
      });
    },
    STEP,
  );

  it(
    'keeps a running VM across a restart of Stratus, controls it from the new process, and finds one that died meanwhile shut off',
    async () => {
      const { pid } = await host(a);
      await settled(a, count(await consoleOutput(a), BOOT));
      stopped = true;
      await s.stop();
      // The VM outlived the process that started it.
      expect(await processGone(pid!)).toBe(false);
      s = await start();
      stopped = false;
      token = await s.login(member.userName, member.password, { projectId: member.projectId });

      const server = await getServer(s, token, a);
      expect(server).toMatchObject({ status: 'ACTIVE', taskState: null, powerState: 'running' });
      expect(await host(a)).toMatchObject({ running: true, qmpStatus: 'running', pid });
      expect(await driver().list()).toContain(rawId(a));

      // Controlled by the new process: a stop ends the same QEMU.
      await act('stopServer', { id: a }, 'SHUTOFF');
      expect(await until(() => processGone(pid!), `pid ${pid} to end`)).toBe(true);
      expect(await host(a)).toMatchObject({ running: false, pid: null });

      // A VM that dies while no Stratus runs is found shut off by the next one, which says why.
      await act('startServer', { id: a }, 'ACTIVE');
      const again = (await host(a)).pid!;
      stopped = true;
      await s.stop();
      process.kill(again, 'SIGKILL');
      expect(await until(() => processGone(again), `pid ${again} to end`)).toBe(true);
      s = await start();
      stopped = false;
      token = await s.login(member.userName, member.password, { projectId: member.projectId });
      expect(await getServer(s, token, a)).toMatchObject({
        status: 'SHUTOFF',
        taskState: null,
        powerState: 'shutdown',
      });
      const actions = await s.ok(
        `query($id: ID!) { node(id: $id) { ... on Server { actions { action message requestId } } } }`,
        { id: a },
        token,
      );
      expect(actions.node.actions[0]).toEqual({
        action: 'stop',
        message: 'The hypervisor process was not running when Stratus started',
        requestId: 'compute-agent',
      });

      // And deleted: nothing is left, quota is back to nothing.
      const data = await serverAction(s, token, 'deleteServer', { id: a });
      expect(data.__typename).toBe('DeleteServerSuccess');
      await waitForOperation(s, token, data.started.operation.id, WAIT);
      await waitForStatus(s, token, a, 'DELETED', WAIT);
      expect(existsSync(instanceDir(a))).toBe(false);
      expect(await driver().list({ all: true })).toEqual([]);
      expect(await quota()).toEqual({ instances: 0, cores: 0, ram_mib: 0 });
    },
    STEP,
  );
});
