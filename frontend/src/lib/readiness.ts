import { NOT_READY_REASONS, type Check } from '@mykey/contracts/health.ts';
import { isRecord, request } from './api.ts';

/** The backend's answer as the status panel shows it; a check the backend adds later is shown too. */
export interface Readiness {
  ready: boolean;
  checks: Record<string, Check>;
}

const isReason = (value: unknown): value is Check['reason'] => NOT_READY_REASONS.some((reason) => reason === value);

function isCheck(value: unknown): value is Check {
  return isRecord(value) && typeof value.ok === 'boolean' && (value.reason === undefined || isReason(value.reason));
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
