import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Context, Next } from 'koa';
import send from 'koa-send';

// Paths the backend answers itself; everything else under GET is the console app.
const API_PATHS = /^\/(api|healthz|readyz)(\/|$)/;

/** Sends the file at the request path; false when there is none (koa-send's 404, or a directory). */
async function sendFile(ctx: Context, root: string, immutable: boolean): Promise<boolean> {
  try {
    return Boolean(await send(ctx, ctx.path, { root, immutable, maxage: immutable ? 365 * 86400_000 : 0 }));
  } catch (error) {
    if ((error as { status?: number }).status === 404) return false;
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
    const immutable = ctx.path.startsWith('/assets/');
    if (await sendFile(ctx, consoleDir, immutable)) return;
    // Unknown paths are console routes (/merchant, /sign-in…); files that look like files stay 404.
    if (path.extname(ctx.path)) return next();
    ctx.set('Cache-Control', 'no-cache');
    await send(ctx, 'index.html', { root: consoleDir });
  };
}
