import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { checkBmcSpec, IpmiBaremetalDriver } from '../drivers/baremetal/index';
import { loadConfig, type StratusConfig } from '../server/config';
import { BmcLab, type BmcSim } from '../test/support/bmc-sim';
import { BUILD_GUEST, GUEST_DIR } from '../test/support/host-tools';
import { type BenchDatabase, type BenchStratus, startBenchStratus, startDatabase } from './support';

/** What the bare-metal benches share: ipmitool by hand, CPU readings, a Stratus with BMCs. */

/** The status poll interval of both sides of a power action. */
export const POLL_MS = 50;
export const pollingDriver = new IpmiBaremetalDriver({ pollIntervalMs: POLL_MS });
const run = promisify(execFile);

/** ipmitool by hand, with exactly the driver's argv and environment. */
export async function byHand(sim: BmcSim, command: string[]): Promise<string> {
  const bmc = checkBmcSpec(sim.spec());
  const { stdout } = await run('ipmitool', pollingDriver.argv(bmc, command), {
    env: { ...process.env, IPMI_PASSWORD: bmc.password },
  });
  return stdout;
}

/** `power on|off` by hand, then `power status` every POLL_MS until it reports the state. */
export async function powerByHand(sim: BmcSim, action: 'on' | 'off'): Promise<void> {
  await byHand(sim, ['power', action]);
  while (!(await byHand(sim, ['power', 'status'])).includes(`Chassis Power is ${action}`)) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** CPU seconds (user + system) of `pid` from /proc; 0 when gone. */
export function cpuOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** This process's CPU and that of its reaped children (ipmitool), in seconds. */
export function selfCpu(): { self: number; children: number } {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return {
    self: (Number(fields[11]) + Number(fields[12])) / 100,
    children: (Number(fields[13]) + Number(fields[14])) / 100,
  };
}

export interface BaremetalBench {
  db: BenchDatabase;
  lab: BmcLab;
  bench: BenchStratus;
}

/**
 * The test guest built, a database, a BMC lab and Stratus with bare metal only (no compute,
 * network or volume driver, no automated cleaning, the periodic sync out of the way);
 * `baremetal` is merged over that.
 */
export async function startBaremetalBench(
  baremetal: Partial<StratusConfig['baremetal']>,
): Promise<BaremetalBench> {
  execFileSync(BUILD_GUEST, [GUEST_DIR], { stdio: 'ignore' });
  const db = await startDatabase();
  const lab = new BmcLab();
  const base = loadConfig({});
  const bench = await startBenchStratus(db.url, {
    compute: { ...base.compute, driver: 'none' },
    network: { ...base.network, driver: 'none' },
    volume: { ...base.volume, driver: 'none' },
    baremetal: {
      ...base.baremetal,
      credentialKey: randomBytes(32).toString('base64'),
      automatedClean: false,
      // The periodic loop stays out of the way; rounds are run by hand.
      syncIntervalMs: 3_600_000,
      ...baremetal,
    },
  });
  return { db, lab, bench };
}

export async function stopBaremetalBench({ db, lab, bench }: BaremetalBench): Promise<void> {
  await bench.stop();
  await lab.stopAll();
  await db.stop();
  const left = lab.leftovers();
  if (left.length > 0) console.log(`WARNING: processes left: ${left.join(', ')}`);
}

const ENROLL = `mutation($input: EnrollNodeInput!) { enrollNode(input: $input) { __typename ... on EnrollNodeSuccess { node { id } } ... on Error { message } } }`;

/** Enrolls a 1-CPU node of resource class `bench` behind `sim`'s BMC; returns its id. */
export async function enrollBenchNode(
  bench: BenchStratus,
  token: string,
  sim: BmcSim,
  name: string,
): Promise<string> {
  const bmc = sim.spec();
  const data = await bench.ok(
    ENROLL,
    {
      input: {
        name,
        bmc: {
          address: bmc.address,
          port: bmc.port,
          username: bmc.username,
          password: bmc.password,
        },
        properties: { cpus: 1, memoryMb: 256, localGb: 1, cpuArch: 'x86_64' },
        resourceClass: 'bench',
      },
    },
    token,
  );
  if (data.enrollNode.__typename !== 'EnrollNodeSuccess') throw new Error(JSON.stringify(data));
  return data.enrollNode.node.id as string;
}
