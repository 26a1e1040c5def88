import type { VolumeDriver } from '../../drivers/volume/types';
import type { ImageCache } from '../compute/image-cache';

/** This process's volume backend (Cinder's cinder-volume): its driver and where it runs. */
export interface VolumeBackend {
  driver: VolumeDriver;
  /** The host name volumes created here record (the process's compute host name). */
  hostname: string;
  /** What volume types name in `volume_backend_name` to land here. */
  backendName: string;
  /** Images fetched for volumes created from them. */
  imageCache: ImageCache;
  detachTimeoutMs: number;
}
