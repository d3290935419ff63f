import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Context, Next } from 'koa';
import send from 'koa-send';
import { Problem } from './problems.ts';

// Paths the backend answers itself; everything else under GET is the console app.
const API_PATHS = /^\/(api|healthz|readyz)(\/|$)/;
// Vite's output: hashed files, cached for good; never a console route.
const ASSETS = /^\/assets(\/|$)/;
// Longer than any path of the console; the file system would refuse it anyway.
const MAX_PATH_LENGTH = 1024;

/**
 * Refuses a path that names no file of the console before it reaches the file system: 400 for
 * one that is no path at all (bad percent-encoding, a null byte), 404 for one that is too long or
 * climbs out of the console's folder. koa-send decodes and checks it again; this only makes the
 * answers clear instead of its errors.
 */
function checkPath(requestPath: string): void {
  if (requestPath.length > MAX_PATH_LENGTH) throw new Problem('not_found', `The path is longer than ${MAX_PATH_LENGTH} characters.`);
  let decoded: string;
  try {
    decoded = decodeURIComponent(requestPath);
  } catch {
    throw new Problem('request_invalid', 'The path is not valid percent-encoding.');
  }
  if (decoded.includes('\0')) throw new Problem('request_invalid', 'The path holds a null byte.');
  if (decoded.split(/[/\\]/).includes('..')) throw new Problem('not_found');
}

/** Sends the file at the request path; false when there is none (a missing file, a directory, a hidden file). */
async function sendFile(ctx: Context, root: string, immutable: boolean): Promise<boolean> {
  try {
    return Boolean(await send(ctx, ctx.path, { root, immutable, maxage: immutable ? 365 * 86400_000 : 0 }));
  } catch (error) {
    // koa-send's own refusals (4xx) of a path checkPath let through: no such file either.
    const status = (error as { status?: number }).status;
    if (status !== undefined && status >= 400 && status < 500) return false;
    throw error;
  }
}

/**
 * Serves the built console (Vite's output): real files as they are, hashed assets cached
 * for good, and index.html for every other path so the console's own router can take it.
 */
export function serveConsole(consoleDir: string) {
  const index = path.join(consoleDir, 'index.html');
  return async function console(ctx: Context, next: Next): Promise<void> {
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || API_PATHS.test(ctx.path)) return next();
    if (!existsSync(index)) return next();
    checkPath(ctx.path);
    const asset = ASSETS.test(ctx.path);
    if (await sendFile(ctx, consoleDir, asset)) return;
    // Unknown paths are console routes (/merchant, /sign-in…); assets and files that look like files stay 404.
    if (asset || path.extname(ctx.path)) return next();
    ctx.set('Cache-Control', 'no-cache');
    await send(ctx, 'index.html', { root: consoleDir });
  };
}
