import fs from 'node:fs/promises';
import { tapName } from './ovs/names';

/** A network device's kernel counters (/sys/class/net/<dev>/statistics), as the HOST sees them. */
export interface DeviceCounters {
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
}

const DEVICE_NAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** Reads a device's counters; throws (ENOENT) when the device does not exist. */
export async function readDeviceCounters(
  device: string,
  sysRoot = '/sys/class/net',
): Promise<DeviceCounters> {
  if (!DEVICE_NAME.test(device)) throw new Error(`not a network device name: "${device}"`);
  const dir = `${sysRoot}/${device}/statistics`;
  const read = async (name: string) => {
    const text = await fs.readFile(`${dir}/${name}`, 'utf8');
    const value = Number(text.trim());
    if (!Number.isFinite(value)) throw new Error(`${dir}/${name} holds no number`);
    return value;
  };
  const [rxBytes, txBytes, rxPackets, txPackets] = await Promise.all([
    read('rx_bytes'),
    read('tx_bytes'),
    read('rx_packets'),
    read('tx_packets'),
  ]);
  return { rxBytes, txBytes, rxPackets, txPackets };
}

/**
 * A tap's counters from its guest's side: what the host receives on the tap is what the
 * guest sent (outgoing), what the host transmits into it is what the guest receives.
 */
export async function readTapAsGuest(tapName: string, sysRoot?: string) {
  const c = await readDeviceCounters(tapName, sysRoot);
  return {
    incomingBytes: c.txBytes,
    outgoingBytes: c.rxBytes,
    incomingPackets: c.txPackets,
    outgoingPackets: c.rxPackets,
  };
}

/**
 * A port's counters from its guest's side, by the tap name the OVS driver gives the port
 * (for a port that is plugged on this host; ENOENT otherwise).
 */
export async function readPortCounters(portId: string, sysRoot?: string) {
  return readTapAsGuest(tapName(portId), sysRoot);
}
