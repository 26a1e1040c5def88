import { describe, expect, it } from 'vitest';
import { lastLinesOf, powerStateOf } from '../../drivers/compute/base';
import {
  baseArgs,
  cpuArgs,
  daemonArgs,
  diskArgs,
  fwCfgArgs,
  hasSerialConsole,
  hotplugPortArgs,
  instancePaths,
  kernelArgs,
  machineArgs,
  memoryArgs,
  nameArgs,
  nicArgs,
  optionValue,
  qemuArgv,
  qmpArgs,
  serialArgs,
  volumeArgs,
  volumeBlockdevs,
  volumeDevice,
  volumeNames,
} from '../../drivers/compute/qemu-args';

/** QEMU's command line, section by section, without starting QEMU. */

const ID = '0b7e7f5e-52a4-4c4b-9d0c-6f0ad1f7c001';
const paths = instancePaths('/var/lib/stratus', ID);

describe('optionValue', () => {
  it.each([
    ['/plain/path', '/plain/path'],
    ['/a,b', '/a,,b'],
    ['a,,b,', 'a,,,,b,,'],
    ['key=value', 'key=value'],
  ])('escapes %j as %j', (value, expected) => {
    expect(optionValue(value)).toBe(expected);
  });
});

describe('instancePaths', () => {
  it('puts everything of an instance in one folder named by its id', () => {
    expect(paths).toEqual({
      dir: `/var/lib/stratus/instances/${ID}`,
      disk: `/var/lib/stratus/instances/${ID}/disk.qcow2`,
      qmpSocket: `/var/lib/stratus/instances/${ID}/qmp.sock`,
      consoleLog: `/var/lib/stratus/instances/${ID}/console.log`,
      pidfile: `/var/lib/stratus/instances/${ID}/qemu.pid`,
      userData: `/var/lib/stratus/instances/${ID}/user-data`,
      metaData: `/var/lib/stratus/instances/${ID}/meta-data.json`,
      spec: `/var/lib/stratus/instances/${ID}/instance.json`,
      suspendedMark: `/var/lib/stratus/instances/${ID}/suspended`,
      specPreResize: `/var/lib/stratus/instances/${ID}/instance.json.pre-resize`,
      diskPreResize: `/var/lib/stratus/instances/${ID}/disk.qcow2.pre-resize`,
    });
  });
});

describe('argv sections', () => {
  it.each([
    [
      'baseArgs',
      baseArgs(),
      ['-nodefaults', '-no-user-config', '-display', 'none', '-vga', 'none'],
    ],
    [
      'nameArgs',
      nameArgs({ instanceId: ID, name: 'web-1' }),
      ['-name', 'guest=web-1', '-uuid', ID],
    ],
    [
      'nameArgs with a comma in the name',
      nameArgs({ instanceId: ID, name: 'web,debug-threads=on' }),
      ['-name', 'guest=web,,debug-threads=on', '-uuid', ID],
    ],
    ['machineArgs tcg', machineArgs({ accelerator: 'tcg' }), ['-machine', 'q35', '-accel', 'tcg']],
    [
      'machineArgs kvm on pc',
      machineArgs({ machine: 'pc', accelerator: 'kvm' }),
      ['-machine', 'pc', '-accel', 'kvm'],
    ],
    ['memoryArgs', memoryArgs({ memoryMib: 2048 }), ['-m', '2048M']],
    ['memoryArgs small', memoryArgs({ memoryMib: 64 }), ['-m', '64M']],
    ['cpuArgs', cpuArgs({ vcpus: 1 }), ['-smp', '1']],
    ['cpuArgs many', cpuArgs({ vcpus: 16 }), ['-smp', '16']],
    ['diskArgs diskless', diskArgs({ diskPath: null }), []],
    [
      'diskArgs',
      diskArgs({ diskPath: paths.disk }),
      ['-drive', `file=${paths.disk},if=virtio,format=qcow2`],
    ],
    [
      'diskArgs with a comma in the path',
      diskArgs({ diskPath: '/srv/a,b/disk.qcow2' }),
      ['-drive', 'file=/srv/a,,b/disk.qcow2,if=virtio,format=qcow2'],
    ],
    [
      'qmpArgs',
      qmpArgs({ socketPath: paths.qmpSocket }),
      [
        '-chardev',
        `socket,id=qmp,path=${paths.qmpSocket},server=on,wait=off`,
        '-mon',
        'chardev=qmp,mode=control',
      ],
    ],
    [
      'serialArgs',
      serialArgs({ logPath: paths.consoleLog }),
      [
        '-chardev',
        `file,id=serial0,path=${paths.consoleLog},append=on`,
        '-serial',
        'chardev:serial0',
      ],
    ],
    ['fwCfgArgs without data', fwCfgArgs({}), []],
    [
      'fwCfgArgs user data',
      fwCfgArgs({ userDataPath: paths.userData }),
      ['-fw_cfg', `name=opt/stratus/user-data,file=${paths.userData}`],
    ],
    [
      'fwCfgArgs both',
      fwCfgArgs({ userDataPath: '/x,y/ud', metaDataPath: '/x,y/md.json' }),
      [
        '-fw_cfg',
        'name=opt/stratus/user-data,file=/x,,y/ud',
        '-fw_cfg',
        'name=opt/stratus/meta-data,file=/x,,y/md.json',
      ],
    ],
    [
      'daemonArgs',
      daemonArgs({ pidfilePath: paths.pidfile, startPaused: false }),
      ['-daemonize', '-pidfile', paths.pidfile],
    ],
    [
      'daemonArgs paused',
      daemonArgs({ pidfilePath: paths.pidfile, startPaused: true }),
      ['-daemonize', '-pidfile', paths.pidfile, '-S'],
    ],
  ])('%s', (_name, actual, expected) => {
    expect(actual).toEqual(expected);
  });
});

describe('kernelArgs', () => {
  it.each([
    ['no kernel', undefined, []],
    [
      'a kernel alone gets console=ttyS0',
      { kernelPath: '/k/vmlinuz' },
      ['-kernel', '/k/vmlinuz', '-append', 'console=ttyS0'],
    ],
    [
      'an initrd and a command line without a console',
      { kernelPath: '/k/vmlinuz', initrdPath: '/k/initrd.img', cmdline: 'quiet panic=-1' },
      [
        '-kernel',
        '/k/vmlinuz',
        '-initrd',
        '/k/initrd.img',
        '-append',
        'quiet panic=-1 console=ttyS0',
      ],
    ],
    [
      'a command line that has console=ttyS0 already',
      { kernelPath: '/k/vmlinuz', cmdline: 'console=ttyS0,115200n8 root=/dev/vda1' },
      ['-kernel', '/k/vmlinuz', '-append', 'console=ttyS0,115200n8 root=/dev/vda1'],
    ],
    [
      'console=ttyS01 is another port',
      { kernelPath: '/k/vmlinuz', cmdline: 'console=ttyS01' },
      ['-kernel', '/k/vmlinuz', '-append', 'console=ttyS01 console=ttyS0'],
    ],
    [
      'commas in paths stay as they are (plain arguments, not option lists)',
      { kernelPath: '/a,b/vmlinuz', initrdPath: '/a,b/initrd' },
      ['-kernel', '/a,b/vmlinuz', '-initrd', '/a,b/initrd', '-append', 'console=ttyS0'],
    ],
  ])('%s', (_name, kernel, expected) => {
    expect(kernelArgs({ kernel })).toEqual(expected);
  });

  it.each([
    ['console=ttyS0', true],
    ['quiet console=ttyS0', true],
    ['console=ttyS0,115200 quiet', true],
    ['console=tty0', false],
    ['xconsole=ttyS0', false],
    ['', false],
  ])('hasSerialConsole(%j) is %s', (cmdline, expected) => {
    expect(hasSerialConsole(cmdline)).toBe(expected);
  });
});

describe('qemuArgv', () => {
  it('assembles every section of a disk-booted instance with user data', () => {
    const argv = qemuArgv({
      instanceId: ID,
      name: 'web-1',
      vcpus: 2,
      memoryMib: 512,
      accelerator: 'tcg',
      paths,
      rootDisk: 'overlay',
      volumes: [],
      nics: [],
      hasUserData: true,
      hasMetaData: false,
      startPaused: false,
    });
    expect(argv).toEqual([
      ...['-name', 'guest=web-1', '-uuid', ID],
      ...['-machine', 'q35', '-accel', 'tcg'],
      ...['-m', '512M', '-smp', '2'],
      ...['-nodefaults', '-no-user-config', '-display', 'none', '-vga', 'none'],
      ...hotplugPortArgs(),
      ...['-chardev', `socket,id=qmp,path=${paths.qmpSocket},server=on,wait=off`],
      ...['-mon', 'chardev=qmp,mode=control'],
      ...['-chardev', `file,id=serial0,path=${paths.consoleLog},append=on`],
      ...['-serial', 'chardev:serial0'],
      ...['-drive', `file=${paths.disk},if=virtio,format=qcow2`],
      ...['-fw_cfg', `name=opt/stratus/user-data,file=${paths.userData}`],
      ...['-daemonize', '-pidfile', paths.pidfile],
    ]);
  });

  it('boots a diskless instance from its kernel, frozen when asked', () => {
    const argv = qemuArgv({
      instanceId: ID,
      name: 'k',
      vcpus: 1,
      memoryMib: 128,
      accelerator: 'kvm',
      paths,
      rootDisk: null,
      volumes: [],
      nics: [],
      kernel: { kernelPath: '/k/vmlinuz', initrdPath: '/k/initrd.img' },
      hasUserData: false,
      hasMetaData: true,
      startPaused: true,
    });
    expect(argv).not.toContain('-drive');
    expect(argv).not.toContain('-nographic');
    expect(argv).not.toContain('-no-reboot');
    expect(argv.slice(argv.indexOf('-kernel'))).toEqual([
      ...['-kernel', '/k/vmlinuz', '-initrd', '/k/initrd.img', '-append', 'console=ttyS0'],
      ...['-fw_cfg', `name=opt/stratus/meta-data,file=${paths.metaData}`],
      ...['-daemonize', '-pidfile', paths.pidfile, '-S'],
    ]);
  });
});

describe('volumes and NICs', () => {
  const VOLUME = '3f2a9c1e-8d4b-4e6f-a1b2-c3d4e5f60718';

  it('derives QEMU names from the volume id (at most 31 characters)', () => {
    expect(volumeNames(VOLUME)).toEqual({
      fileNode: 'file-3f2a9c1e8d4b4e6fa1b2c3d4',
      formatNode: 'vol-3f2a9c1e8d4b4e6fa1b2c3d4',
      deviceId: 'disk-3f2a9c1e8d4b4e6fa1b2c3d4',
      serial: '3f2a9c1e-8d4b-4e6f-a',
    });
    for (const name of Object.values(volumeNames(VOLUME))) {
      expect(name.length).toBeLessThanOrEqual(31);
    }
  });

  it('adds a file node (host_device for a block device), a format node and a device', () => {
    const file = {
      volumeId: VOLUME,
      driver: 'qcow2' as const,
      path: '/v/a.qcow2',
      blockDevice: false,
    };
    expect(volumeBlockdevs(file)).toEqual([
      { driver: 'file', 'node-name': 'file-3f2a9c1e8d4b4e6fa1b2c3d4', filename: '/v/a.qcow2' },
      {
        driver: 'qcow2',
        'node-name': 'vol-3f2a9c1e8d4b4e6fa1b2c3d4',
        file: 'file-3f2a9c1e8d4b4e6fa1b2c3d4',
      },
    ]);
    const lv = { volumeId: VOLUME, driver: 'raw' as const, path: '/dev/vg/lv', blockDevice: true };
    expect(volumeBlockdevs(lv)[0]).toMatchObject({ driver: 'host_device' });
    expect(volumeDevice(VOLUME, 3)).toEqual({
      driver: 'virtio-blk-pci',
      id: 'disk-3f2a9c1e8d4b4e6fa1b2c3d4',
      drive: 'vol-3f2a9c1e8d4b4e6fa1b2c3d4',
      serial: '3f2a9c1e-8d4b-4e6f-a',
      bus: 'hp3',
    });
    expect(volumeArgs({ ...file, path: '/v/a,b.qcow2' }, 3)).toEqual([
      ...[
        '-blockdev',
        'driver=file,node-name=file-3f2a9c1e8d4b4e6fa1b2c3d4,filename=/v/a,,b.qcow2',
      ],
      ...[
        '-blockdev',
        'driver=qcow2,node-name=vol-3f2a9c1e8d4b4e6fa1b2c3d4,file=file-3f2a9c1e8d4b4e6fa1b2c3d4',
      ],
      ...[
        '-device',
        'virtio-blk-pci,id=disk-3f2a9c1e8d4b4e6fa1b2c3d4,drive=vol-3f2a9c1e8d4b4e6fa1b2c3d4,serial=3f2a9c1e-8d4b-4e6f-a,bus=hp3',
      ],
    ]);
    expect(volumeArgs(file, null).at(-1)).not.toContain('bus=');
  });

  it('gives every instance eight hot-plug root ports in one multifunction slot', () => {
    const args = hotplugPortArgs();
    expect(args.filter((a) => a === '-device')).toHaveLength(8);
    expect(args[1]).toBe(
      'pcie-root-port,id=hp0,chassis=1,bus=pcie.0,addr=0x10.0,multifunction=on,io-reserve=0',
    );
    expect(args[15]).toBe('pcie-root-port,id=hp7,chassis=8,bus=pcie.0,addr=0x10.7,io-reserve=0');
  });

  it('opens existing taps as virtio-net NICs in order', () => {
    expect(
      nicArgs({
        nics: [
          { portId: 'p1', tapName: 'tap0123456789a', mac: 'fa:16:3e:00:00:01' },
          { portId: 'p2', tapName: 'tapb', mac: 'fa:16:3e:00:00:02' },
        ],
      }),
    ).toEqual([
      ...['-netdev', 'tap,id=net0,ifname=tap0123456789a,script=no,downscript=no'],
      ...['-device', 'virtio-net-pci,netdev=net0,mac=fa:16:3e:00:00:01,id=nic0'],
      ...['-netdev', 'tap,id=net1,ifname=tapb,script=no,downscript=no'],
      ...['-device', 'virtio-net-pci,netdev=net1,mac=fa:16:3e:00:00:02,id=nic1'],
    ]);
  });

  it('puts the root volume on the root bus and the other volumes in their ports', () => {
    const root = { volumeId: VOLUME, driver: 'raw' as const, path: '/v/root', blockDevice: false };
    const other = '9f2a9c1e-8d4b-4e6f-a1b2-c3d4e5f60718';
    const argv = qemuArgv({
      instanceId: ID,
      name: 'bfv',
      vcpus: 1,
      memoryMib: 128,
      accelerator: 'tcg',
      paths,
      rootDisk: root,
      volumes: [{ volume: { ...root, volumeId: other, path: '/v/data' }, slot: 2 }],
      nics: [{ portId: 'p', tapName: 'tapx', mac: 'fa:16:3e:00:00:09' }],
      hasUserData: false,
      hasMetaData: false,
      startPaused: false,
    });
    expect(argv).not.toContain('-drive');
    const devices = argv.filter((_, i) => argv[i - 1] === '-device');
    expect(devices.slice(8)).toEqual([
      'virtio-blk-pci,id=disk-3f2a9c1e8d4b4e6fa1b2c3d4,drive=vol-3f2a9c1e8d4b4e6fa1b2c3d4,serial=3f2a9c1e-8d4b-4e6f-a',
      'virtio-blk-pci,id=disk-9f2a9c1e8d4b4e6fa1b2c3d4,drive=vol-9f2a9c1e8d4b4e6fa1b2c3d4,serial=9f2a9c1e-8d4b-4e6f-a,bus=hp2',
      'virtio-net-pci,netdev=net0,mac=fa:16:3e:00:00:09,id=nic0',
    ]);
  });
});

describe('powerStateOf', () => {
  it.each([
    ['running', false, 'running'],
    ['running', true, 'running'],
    ['paused', false, 'paused'],
    ['paused', true, 'suspended'],
    ['prelaunch', false, 'paused'],
    ['suspended', false, 'suspended'],
    ['shutdown', false, 'shutdown'],
    ['internal-error', false, 'crashed'],
    ['io-error', false, 'crashed'],
    ['guest-panicked', false, 'crashed'],
    ['inmigrate', false, 'paused'],
  ] as const)('QMP %s (suspended mark: %s) is %s', (qmpStatus, mark, expected) => {
    expect(powerStateOf(qmpStatus, mark)).toBe(expected);
  });
});

describe('lastLinesOf', () => {
  it.each([
    ['a\nb\nc\n', undefined, 'a\nb\nc\n'],
    ['a\nb\nc\n', 2, 'b\nc\n'],
    ['a\nb\nc', 2, 'b\nc'],
    ['a\nb\nc\n', 10, 'a\nb\nc\n'],
    ['', 3, ''],
    ['only\n', 1, 'only\n'],
  ])('%j, last %s lines', (text, lines, expected) => {
    expect(lastLinesOf(text, lines)).toBe(expected);
  });
});
