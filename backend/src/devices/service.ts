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
import { devicesRepository, type EnrolledDevice } from './repository.ts';

export const CODE_MINUTES = 10;
// last_seen_at is for people ("seen 3 minutes ago"); a write per request would buy nothing.
const SEEN_PRECISION_MS = 60_000;


export interface Enrollment {
  deviceId: number;
  token: string;
  name: string;
  organization: OrganizationRef & { name: { ja: string; en: string } };
}

export function devicesService(db: Db, now: () => Date) {
  const devices = devicesRepository(db);

  return {
    /** Inside the caller's transaction, so the code, its audit entry and the stored answer commit together. */
    async issueCode(trx: Knex.Transaction, staff: SignedInStaff, name: string): Promise<EnrollmentCode> {
      const code = newEnrollmentCode();
      const issuedAt = now();
      const expiresAt = new Date(issuedAt.getTime() + CODE_MINUTES * 60_000);
      const id = await devicesRepository(trx).insertCode({ codeHash: tokenHash(code), organization: staff.organization, staffId: staff.id, deviceName: name, issuedAt, expiresAt });
      await appendAudit(trx, {
        action: 'device.enrollment_code_issued', actor: { kind: 'staff', id: String(staff.id) }, subject: `device_enrollment_code:${id}`,
        details: { organization: organizationLabel(staff.organization), expiresAt: expiresAt.toISOString() },
      });
      return { code: groupCode(code), expiresAt: expiresAt.toISOString(), name };
    },

    /** Uses the code up and makes a device; a wrong, used or expired code all fail the same way. */
    async enroll(typedCode: string, name: string | undefined): Promise<Enrollment> {
      const code = normalizeCode(typedCode);
      if (!code) throw new Problem('device_enrollment_code_invalid');
      const token = newDeviceToken();
      const enrolledAt = now();
      return db.transaction(async (trx) => {
        const inTrx = devicesRepository(trx);
        const claimed = await inTrx.claimCode(tokenHash(code), enrolledAt);
        if (!claimed) throw new Problem('device_enrollment_code_invalid');
        const organization = organizationOf(claimed);
        const deviceName = name ?? claimed.device_name;
        const deviceId = await inTrx.insertDevice({ organization, name: deviceName, tokenHash: tokenHash(token), enrolledAt, staffId: claimed.issued_by_staff_id });
        await inTrx.linkCode(claimed.id, deviceId);
        await appendAudit(trx, {
          action: 'device.enrolled', actor: { kind: 'device', id: String(deviceId) }, subject: `device:${deviceId}`,
          details: { organization: organizationLabel(organization), enrollmentCode: claimed.id, codeIssuedBy: claimed.issued_by_staff_id },
        });
        return { deviceId, token, name: deviceName, organization: { ...organization, name: await inTrx.organizationName(organization) } };
      });
    },

    list(organization: OrganizationRef): Promise<Device[]> {
      return devices.list(organization);
    },

    /** Revoking a revoked device changes nothing and is not an error. Another organization's device is not found. */
    async revoke(trx: Knex.Transaction, staff: SignedInStaff, id: number): Promise<Device> {
      const inTrx = devicesRepository(trx);
      const device = await inTrx.lockInOrganization(id, staff.organization);
      if (!device) throw new Problem('device_not_found');
      if (device.status === 'revoked') return device;
      const revokedAt = now();
      await inTrx.markRevoked(id, staff.id, revokedAt);
      await appendAudit(trx, {
        action: 'device.revoked', actor: { kind: 'staff', id: String(staff.id) }, subject: `device:${id}`,
        details: { organization: organizationLabel(staff.organization) },
      });
      return { ...device, status: 'revoked', revokedAt: revokedAt.toISOString() };
    },

    /** The active device holding this bearer token, or undefined for anything else. */
    async authenticate(token: string): Promise<EnrolledDevice | undefined> {
      if (!isDeviceTokenShaped(token)) return undefined;
      const device = await devices.activeByTokenHash(tokenHash(token));
      if (!device) return undefined;
      const at = now();
      const staleBefore = new Date(at.getTime() - SEEN_PRECISION_MS);
      if (!device.lastSeenAt || device.lastSeenAt < staleBefore) await devices.touch(device.id, at, staleBefore);
      return { id: device.id, organization: device.organization, municipalityCode: device.municipalityCode };
    },
  };
}

export type DevicesService = ReturnType<typeof devicesService>;
