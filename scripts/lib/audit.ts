// The audit head's export folder on a development machine: with no AUDIT_EXPORT_DIR, `npm start`
// (whose worker exports daily) and `npm run mykey -- audit-export / audit-verify` share one
// under .data, so the commands check what the local worker exported.
import path from 'node:path';
import { dataDir } from '@mykey/dev-tools/paths.ts';
import { isDevelopment } from '@mykey/backend/config.ts';

export const LOCAL_AUDIT_EXPORT_DIR = path.join(dataDir, 'audit-heads');

/** Variables to add to `env`: none when configured, and none outside development: production must configure it. */
export function developmentAuditEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (!isDevelopment(env) || env.AUDIT_EXPORT_DIR) return {};
  return { AUDIT_EXPORT_DIR: LOCAL_AUDIT_EXPORT_DIR };
}
