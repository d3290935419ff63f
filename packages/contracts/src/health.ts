// What the backend answers at /readyz (backend/src/health/), as the console's system status
// shows it.

/**
 * Why a check is not ready, as a code: the answer goes to whoever can reach /readyz, so it names
 * no host, driver error or migration; the detail goes to the server's log.
 */
export const NOT_READY_REASONS = ['database_unavailable', 'database_timeout', 'redis_unavailable', 'redis_timeout', 'migrations_pending'] as const;
export type NotReadyReason = (typeof NOT_READY_REASONS)[number];

export interface Check { ok: boolean; reason?: NotReadyReason }

export interface Readiness { status: 'ready' | 'not_ready'; checks: { mysql: Check; redis: Check; migrations: Check } }
