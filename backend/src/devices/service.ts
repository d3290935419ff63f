// Enrolling reader agents as devices, authenticating them, and revoking them.
import type { Knex } from 'knex';
import { appendAudit } from '../audit/chain.ts';
import type { Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import type { SignedInStaff } from '../staff/repository.ts';
import { tokenHash } from '../staff/repository.ts';
import { organizationLabel, organizationOf, type OrganizationRef } from '../staff/organization.ts';
import { groupCode, isDeviceTokenShaped, newDeviceToken, newEnrollmentCode, normalizeCode } from './codes.ts';
import type { Device, EnrollmentCode } from '@mykey/contracts/device.ts';
import { organizationRepository } from '../organizations/repository.ts';
import { devicesRepository as repo, type EnrolledDevice } from './repository.ts';

const CODE_MINUTES = 10;
// last_seen_at is for people ("seen 3 minutes ago"); a write per request would buy nothing.
const SEEN_PRECISION_MS = 60_000;


export interface Enrollment {
  deviceId: number;
  token: string;
  name: string;
  organization: OrganizationRef & { name: { ja: string; en: string } };
}

/** Inside the caller's transaction, so the code, its audit entry and the stored answer commit together. */
export async function issueCode(trx: Knex.Transaction, staff: SignedInStaff, name: string, issuedAt: Date): Promise<EnrollmentCode> {
  const code = newEnrollmentCode();
  const expiresAt = new Date(issuedAt.getTime() + CODE_MINUTES * 60_000);
  const id = await repo.insertCode(trx, { codeHash: tokenHash(code), organization: staff.organization, staffId: staff.id, deviceName: name, issuedAt, expiresAt });
  await appendAudit(trx, {
    action: 'device.enrollment_code_issued', actor: { kind: 'staff', id: String(staff.id) }, subject: `device_enrollment_code:${id}`,
    details: { organization: organizationLabel(staff.organization), expiresAt: expiresAt.toISOString() },
  });
  return { code: groupCode(code), expiresAt: expiresAt.toISOString(), name };
}

/** Uses the code up and makes a device; a wrong, used or expired code all fail the same way. */
export async function enroll(db: Db, typedCode: string, name: string | undefined, enrolledAt: Date): Promise<Enrollment> {
  const code = normalizeCode(typedCode);
  if (!code) throw new Problem('device_enrollment_code_invalid');
  const token = newDeviceToken();
  return db.transaction(async (trx) => {
    const claimed = await repo.claimCode(trx, tokenHash(code), enrolledAt);
    if (!claimed) throw new Problem('device_enrollment_code_invalid');
    const organization = organizationOf(claimed);
    const deviceName = name ?? claimed.device_name;
    const deviceId = await repo.insertDevice(trx, { organization, name: deviceName, tokenHash: tokenHash(token), enrolledAt, staffId: claimed.issued_by_staff_id });
    await repo.linkCode(trx, claimed.id, deviceId);
    await appendAudit(trx, {
      action: 'device.enrolled', actor: { kind: 'device', id: String(deviceId) }, subject: `device:${deviceId}`,
      details: { organization: organizationLabel(organization), enrollmentCode: claimed.id, codeIssuedBy: claimed.issued_by_staff_id },
    });
    return { deviceId, token, name: deviceName, organization: { ...organization, name: await organizationRepository.organizationName(trx, organization) } };
  });
}

/** Revoking a revoked device changes nothing and is not an error. Another organization's device is not found. */
export async function revoke(trx: Knex.Transaction, staff: SignedInStaff, id: number, revokedAt: Date): Promise<Device> {
  const device = await repo.lockInOrganization(trx, id, staff.organization);
  if (!device) throw new Problem('device_not_found');
  if (device.status === 'revoked') return device;
  await repo.markRevoked(trx, id, staff.id, revokedAt);
  await appendAudit(trx, {
    action: 'device.revoked', actor: { kind: 'staff', id: String(staff.id) }, subject: `device:${id}`,
    details: { organization: organizationLabel(staff.organization) },
  });
  return { ...device, status: 'revoked', revokedAt: revokedAt.toISOString() };
}

/** The active device holding this bearer token, or undefined for anything else. */
export async function authenticate(db: Db, token: string, at: Date): Promise<EnrolledDevice | undefined> {
  if (!isDeviceTokenShaped(token)) return undefined;
  const device = await repo.activeByTokenHash(db, tokenHash(token));
  if (!device) return undefined;
  const staleBefore = new Date(at.getTime() - SEEN_PRECISION_MS);
  if (!device.lastSeenAt || device.lastSeenAt < staleBefore) await repo.touch(db, device.id, at, staleBefore);
  return { id: device.id, organization: device.organization, municipalityCode: device.municipalityCode };
}
