// A town's service with a linked member who taps PIN-less at its gate, and uses inserted at
// chosen instants: what the figures of service uses are tested on (docs/services-figures.md).
import { randomBytes } from 'node:crypto';
import type { Db } from '../../src/db.ts';
import { tokyoDate } from '../../src/ledger/rules.ts';
import { cardProof, firstLogin, type Device, type Staff, type TestPki } from './identity.ts';

function must<T extends { status: number; body: any }>(reply: T, status: number): T {
  if (reply.status !== status) throw new Error(`expected ${status}, got ${reply.status}: ${JSON.stringify(reply.body)}`);
  return reply;
}

/**
 * A PIN-less service of the clerk's town, served by `gate`, with a resident linked at it; `tap()`
 * is that resident's card at the gate (a use logged).
 */
export async function serviceWithMember(staff: Staff, gate: Device, pki: TestPki, nameJa = `みらい市体育館${randomBytes(3).toString('hex')}`) {
  const service = must(await staff.post('/api/v1/services', { kind: 'sports_facility', nameJa, nameEn: `Mirai Gym ${nameJa.slice(-6)}`, tapPolicy: 'tap' }), 201).body;
  must(await staff.put(`/api/v1/services/${service.id}/devices`, { deviceIds: [gate.id] }), 200);
  const resident = await firstLogin(pki, gate);
  const request = must(await staff.post(`/api/v1/services/${service.id}/membership-requests`, { action: 'link', memberNumber: `G-${randomBytes(4).toString('hex')}` }), 201).body;
  const challenge = must(await gate.post('/api/v1/auth/challenges', { purpose: 'service_link', membershipRequestId: request.requestId }), 201).body;
  must(await gate.post('/api/v1/auth/card-sessions', cardProof(challenge, resident.card)), 201);
  const tap = async () => must(await gate.post('/api/v1/auth/card-taps', { purpose: 'service_lookup', certificate: resident.card.certificateDer.toString('base64') }), 201).body;
  return { id: Number(service.id) as number, nameJa: service.nameJa as string, nameEn: service.nameEn as string, tap };
}

/** Uses of the service at these instants, as taps at `deviceId` would have logged them. */
export async function insertUses(db: Db, serviceId: number, deviceId: number, instants: Date[]): Promise<void> {
  for (let at = 0; at < instants.length; at += 1000) {
    await db('service_uses').insert(instants.slice(at, at + 1000).map((usedAt) => ({ service_id: serviceId, device_id: deviceId, membership_id: null, used_at: usedAt })));
  }
}

/**
 * The Japanese calendar day of the service's latest use: the day its taps were counted on, which
 * the clock's date is not when a test runs past midnight (Japan).
 */
export async function lastUseDay(db: Db, serviceId: number): Promise<string> {
  const [latest] = await db('service_uses').where({ service_id: serviceId }).max({ at: 'used_at' });
  return tokyoDate(latest!.at);
}
