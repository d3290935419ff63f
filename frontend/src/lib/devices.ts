import type { Device, EnrollmentCode } from '@mykey/contracts/device.ts';
import { isRecord, newIdempotencyKey, request } from './api.ts';

export type { Device, EnrollmentCode };

const isNullableString = (value: unknown): value is string | null => value === null || typeof value === 'string';

function isDevice(value: unknown): value is Device {
  return (
    isRecord(value) &&
    typeof value.id === 'number' &&
    typeof value.name === 'string' &&
    (value.status === 'active' || value.status === 'revoked') &&
    typeof value.enrolledAt === 'string' &&
    isNullableString(value.lastSeenAt) &&
    isNullableString(value.revokedAt)
  );
}

function parseDevices(body: unknown): Device[] | null {
  return isRecord(body) && Array.isArray(body.devices) && body.devices.every(isDevice) ? body.devices : null;
}

function parseDevice(body: unknown): Device | null {
  return isRecord(body) && isDevice(body.device) ? body.device : null;
}

function parseCode(body: unknown): EnrollmentCode | null {
  if (!isRecord(body)) return null;
  const { code, expiresAt, name } = body;
  return typeof code === 'string' && typeof expiresAt === 'string' && typeof name === 'string' ? { code, expiresAt, name } : null;
}

export function listDevices(): Promise<Device[]> {
  return request('/api/v1/staff/devices', parseDevices);
}

// One key per click: the clerk sees every failure, and trying again is a new request.
export function issueEnrollmentCode(name: string): Promise<EnrollmentCode> {
  return request('/api/v1/staff/device-enrollment-codes', parseCode, { method: 'POST', body: { name }, idempotencyKey: newIdempotencyKey() });
}

export function revokeDevice(id: number): Promise<Device> {
  return request(`/api/v1/staff/devices/${id}/revocation`, parseDevice, { method: 'POST', idempotencyKey: newIdempotencyKey() });
}

/** What to type at the counter PC; the backend is the one this console came from. */
export function enrollCommand(code: string, backend: string): string {
  return `npm run reader-agent -- enroll ${code} --backend ${backend}`;
}
