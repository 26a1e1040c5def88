import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import express from 'express';
import { PxeNodeDeployer } from '../resolvers/baremetal/pxe/deployer';
import { PxeSessions } from '../resolvers/baremetal/pxe/sessions';
import type { StratusConfig } from './config';
import type { Logger } from './logger';

/*
 * What a network-booting node fetches from Stratus, without a token of Keystone's (it has none):
 *   GET  /v1/baremetal/boot/<boot token>/{boot.ipxe,vmlinuz,initrd.img}
 *   POST /v1/baremetal/callback/<one-time token>   body: the booted system's report (text)
 * Both tokens are random per deploy and work only while that deploy waits
 * (resolvers/baremetal/pxe/sessions.ts); anything else is a 404.
 */

/** Reports longer than this are cut: a line or two is all the deploy keeps. */
const MAX_REPORT = 4096;

export function pxeRouter(sessions: PxeSessions, logger: Logger): express.Router {
  const router = express.Router();
  router.get('/v1/baremetal/boot/:token/:file', async (req, res) => {
    const file = sessions.bootFile(String(req.params.token), String(req.params.file));
    const stat = file ? await fs.stat(file).catch(() => null) : null;
    if (!file || !stat) {
      res.status(404).type('text/plain').send('not found\n');
      return;
    }
    res.status(200).set({
      'Content-Type': file.endsWith('.ipxe')
        ? 'text/plain; charset=utf-8'
        : 'application/octet-stream',
      'Content-Length': String(stat.size),
      'Cache-Control': 'no-store',
    });
    try {
      await pipeline(createReadStream(file), res);
    } catch (error) {
      logger.warn({ err: error, file: req.params.file }, 'sending a boot file failed');
    }
  });
  router.post(
    '/v1/baremetal/callback/:token',
    express.text({ type: () => true, limit: MAX_REPORT * 4 }),
    (req, res) => {
      const body = typeof req.body === 'string' ? req.body : '';
      const report = body.trim().split('\n')[0]?.slice(0, MAX_REPORT) ?? '';
      if (!sessions.deliver(String(req.params.token), report)) {
        res.status(404).type('text/plain').send('unknown or used call-back token\n');
        return;
      }
      res.status(204).end();
    },
  );
  return router;
}

export interface LoadedPxe {
  deployer: PxeNodeDeployer;
  router: express.Router;
}

/**
 * The network-boot deployer and its routes for one process. STRATUS_PXE_BOOT_DIR (default
 * `<data>/pxe`) holds the boot folders, STRATUS_PXE_BASE_URL overrides the URL nodes reach
 * Stratus at, STRATUS_BAREMETAL_CLEAN_IMAGE_ID names the image that wipes disks (cleaning).
 */
export function loadPxe(
  config: StratusConfig,
  logger: Logger,
  networkUnavailable: string | null = null,
  env: NodeJS.ProcessEnv = process.env,
): LoadedPxe {
  const sessions = new PxeSessions();
  const deployer = new PxeNodeDeployer({
    bootRoot: env.STRATUS_PXE_BOOT_DIR || path.join(config.dataDir, 'pxe'),
    sessions,
    baseUrl: env.STRATUS_PXE_BASE_URL || null,
    cleanImageId: env.STRATUS_BAREMETAL_CLEAN_IMAGE_ID || null,
    networkUnavailable,
  });
  return { deployer, router: pxeRouter(sessions, logger) };
}
