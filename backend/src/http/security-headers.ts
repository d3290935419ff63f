// Security headers on every answer of the API server: the console's pages, its assets and the
// API alike (docs/security/production.md). helmet sets them, and keeps its defaults for the
// headers not named here; the policy below is ours.
import helmet from 'helmet';
import type { Context, Next } from 'koa';

/** HSTS for two years: a browser that once reached the console over HTTPS never tries plain HTTP again. */
const HSTS_MAX_AGE_S = 2 * 365 * 86_400;

/**
 * The console runs only its own scripts and styles (Vite builds them into files, nothing
 * inline), talks only to its own origin and to the reader agent on this PC's loopback
 * (`readerAgentOrigins`), shows images of its own and data: URLs (QR codes), and is framed by no one.
 */
export function securityHeaders(readerAgentOrigins: readonly string[]) {
  const headers = helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        scriptSrcAttr: ["'none'"],
        styleSrc: ["'self'"],
        connectSrc: ["'self'", ...readerAgentOrigins],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    referrerPolicy: { policy: 'no-referrer' },
    xFrameOptions: { action: 'deny' },
    // Only over HTTPS (below): on plain HTTP it means nothing, and on a development machine's
    // http://localhost it would hold other local servers to HTTPS for two years.
    strictTransportSecurity: false,
  });
  const hsts = helmet.strictTransportSecurity({ maxAge: HSTS_MAX_AGE_S, includeSubDomains: true });
  return async function withSecurityHeaders(ctx: Context, next: Next): Promise<void> {
    headers(ctx.req, ctx.res, () => {});
    if (ctx.secure) hsts(ctx.req, ctx.res, () => {});
    await next();
  };
}
