import { isRecord, request } from './api.ts';

export interface Check {
  ok: boolean;
  /** English technical text from the backend, shown verbatim. */
  reason?: string;
}

export interface Readiness {
  ready: boolean;
  checks: Record<string, Check>;
}

function isCheck(value: unknown): value is Check {
  return (
    isRecord(value) &&
    typeof value.ok === 'boolean' &&
    (value.reason === undefined || typeof value.reason === 'string')
  );
}

function parseReadiness(body: unknown): Readiness | null {
  if (!isRecord(body) || !isRecord(body.checks)) return null;
  const checks = Object.entries(body.checks);
  if (!checks.every(([, check]) => isCheck(check))) return null;
  return {
    ready: body.status === 'ready',
    checks: Object.fromEntries(checks) as Record<string, Check>,
  };
}

// A 503 here is the backend reporting which dependency is down, not a failed request.
export function fetchReadiness(): Promise<Readiness> {
  return request('/readyz', parseReadiness, { acceptStatuses: [503] });
}
