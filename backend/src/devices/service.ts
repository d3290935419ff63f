// Enrolling reader agents as devices, authenticating them, and revoking them.
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { Knex } from 'knex';
import { appendAudit } from '../audit/chain.ts';
import type { Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import type { SignedInStaff } from '../staff/repository.ts';
import { tokenHash } from '../staff/repository.ts';
import { organizationLabel, organizationOf, type OrganizationRef } from '../staff/organization.ts';
import { isDeviceTokenShaped, newDeviceToken } from './codes.ts';
import { groupCode, newOneTimeCode, normalizeCode } from '../one-time-codes.ts';
import type { Device, EnrollmentCode } from '@mykey/contracts/device.ts';
import { namesOfOrganization } from '../organizations/repository.ts';
import { servingShop } from '../shops/service.ts';
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
  const code = newOneTimeCode();
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
    return { deviceId, token, name: deviceName, organization: { ...organization, name: namesOfOrganization(claimed) } };
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

/** The active device holding this bearer token, or undefined for anything else; a device of a shop not serving is refused. */
export async function authenticate(db: Db, token: string, at: Date): Promise<EnrolledDevice | undefined> {
  if (!isDeviceTokenShaped(token)) return undefined;
  const device = await repo.activeByTokenHash(db, tokenHash(token));
  if (!device) return undefined;
  // A suspended shop's registers stop at once: nothing its devices ask is looked at.
  if (device.shopStatus) servingShop(device.shopStatus);
  const staleBefore = new Date(at.getTime() - SEEN_PRECISION_MS);
  if (!device.lastSeenAt || device.lastSeenAt < staleBefore) await repo.touch(db, device.id, at, staleBefore);
  return { id: device.id, organization: device.organization, municipalityCode: device.municipalityCode };
}

/** The Ed25519 public key (SPKI DER) `spki` holds, or a request_invalid problem. */
function ed25519Key(spki: Buffer): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch {
    throw new Problem('request_invalid', 'publicKey must be an Ed25519 public key, SPKI DER in base64');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Problem('request_invalid', 'publicKey must be an Ed25519 public key');
  return key;
}

/**
 * The device registers the key its agent signs journal entries with, once: the same key again
 * is a no-op, another one journal_key_taken (only enrolling again gives a device a new key, so a
 * stolen token cannot swap in a key of its own after the device's first registration).
 */
export async function registerJournalKey(trx: Knex.Transaction, device: EnrolledDevice, spki: Buffer, now: Date): Promise<{ deviceId: number }> {
  ed25519Key(spki);
  const registered = await repo.journalKey(trx, device.id, { lock: true });
  if (registered && !registered.equals(spki)) throw new Problem('journal_key_taken');
  if (!registered) {
    await repo.setJournalKey(trx, device.id, spki, now);
    await appendAudit(trx, {
      action: 'device.journal_key_registered', actor: { kind: 'device', id: String(device.id) }, subject: `device:${device.id}`,
      details: { organization: organizationLabel(device.organization) },
    });
  }
  return { deviceId: device.id };
}

/** The device's journal key, to check an entry's signature with; journal_key_missing when it has none. */
export async function journalKeyOf(db: Db, deviceId: number): Promise<KeyObject> {
  const spki = await repo.journalKey(db, deviceId);
  if (!spki) throw new Problem('journal_key_missing');
  return ed25519Key(spki);
}
