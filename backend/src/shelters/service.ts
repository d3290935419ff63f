// Evacuation shelters (避難所): a town's municipal staff open one for a disaster or a drill, assign
// the devices that serve it and close it; residents tap their card at its devices to check in and
// out (PIN-less by design, purposes.ts), and the staff see who is inside, a CSV of it, and every
// open shelter's counts for headquarters. docs/shelters.md.
import type { Knex } from 'knex';
import { appendAudit, towns } from '../audit/chain.ts';
import { csvFile } from '../csv.ts';
import type { Db } from '../db.ts';
import type { EnrolledDevice } from '../devices/repository.ts';
import { devicesRepository } from '../devices/repository.ts';
import { Problem } from '../http/problems.ts';
import { tokyoTime } from '../ledger/rules.ts';
import { usableCardOf } from '../mykey/service.ts';
import type { SignedInStaff } from '../staff/repository.ts';
import type { Tap } from '../card-taps/purposes.ts';
import { deviceAssignments } from '../devices/assignments.ts';
import { staffActor } from '../town-services/service.ts';
import type { Messages } from '@mykey/contracts/problem-kinds.ts';
import type { ShelterNames, ShelterRoster, ShelterSummary, ShelterTapAnswer, ShelterView } from '@mykey/contracts/shelters.ts';
import { sheltersRepository as repo, type Shelter, type ShelterFields } from './repository.ts';

type Conn = Db | Knex.Transaction;

export const names = (shelter: Shelter): ShelterNames => ({ id: shelter.id, nameJa: shelter.nameJa, nameEn: shelter.nameEn });
const shelterView = (shelter: Shelter, deviceIds: number[]): ShelterView => ({
  ...names(shelter), place: shelter.place, capacity: shelter.capacity, drill: shelter.drill, deviceIds,
  openedAt: shelter.openedAt.toISOString(), closedAt: shelter.closedAt?.toISOString() ?? null,
});

/** The devices serving each of these shelters (the device rule: devices/assignments.ts). */
const devicesServing = (conn: Conn, shelterIds: number[]) => deviceAssignments.devicesOf(conn, 'shelter', shelterIds);

/** A shelter of the staff member's town; another town's is as good as unknown. */
async function ownShelter(conn: Conn, staff: SignedInStaff, id: number, options: { lock?: boolean } = {}): Promise<Shelter> {
  const shelter = await repo.shelter(conn, id, options);
  if (!shelter || shelter.municipalityCode !== staff.municipalityCode) throw new Problem('shelter_not_found');
  return shelter;
}

/** An open shelter of the staff member's town, locked for a change. */
async function ownOpenShelter(trx: Knex.Transaction, staff: SignedInStaff, id: number): Promise<Shelter> {
  const shelter = await ownShelter(trx, staff, id, { lock: true });
  if (shelter.closedAt) throw new Problem('shelter_closed');
  return shelter;
}

async function viewOf(conn: Conn, id: number): Promise<ShelterView> {
  const shelter = (await repo.shelter(conn, id))!;
  return shelterView(shelter, (await devicesServing(conn, [id])).get(id)!);
}

export async function listShelters(db: Db, staff: SignedInStaff): Promise<ShelterView[]> {
  const shelters = await repo.list(db, staff.municipalityCode);
  const devices = await devicesServing(db, shelters.map((s) => s.id));
  return shelters.map((shelter) => shelterView(shelter, devices.get(shelter.id)!));
}

export async function shelterOf(db: Db, staff: SignedInStaff, id: number): Promise<ShelterView> {
  return viewOf(db, (await ownShelter(db, staff, id)).id);
}

export async function openShelter(trx: Knex.Transaction, staff: SignedInStaff, fields: ShelterFields, now: Date): Promise<ShelterView> {
  const id = await repo.insert(trx, staff.municipalityCode, fields, now);
  await appendAudit(trx, { action: 'shelter.opened', actor: staffActor(staff), subject: `shelter:${id}`, details: { capacity: fields.capacity, drill: fields.drill, ...towns(staff.municipalityCode) } });
  return viewOf(trx, id);
}

export async function updateShelter(trx: Knex.Transaction, staff: SignedInStaff, id: number, fields: Partial<ShelterFields>, now: Date): Promise<ShelterView> {
  await ownOpenShelter(trx, staff, id);
  await repo.update(trx, id, fields, now);
  await appendAudit(trx, { action: 'shelter.updated', actor: staffActor(staff), subject: `shelter:${id}`, details: { fields: Object.keys(fields).sort(), ...towns(staff.municipalityCode) } });
  return viewOf(trx, id);
}

/** The open shelter is served by exactly these active devices of the town (the device rule above). */
export async function setShelterDevices(trx: Knex.Transaction, staff: SignedInStaff, id: number, deviceIds: number[]): Promise<ShelterView> {
  await ownOpenShelter(trx, staff, id);
  const unique = [...new Set(deviceIds)].sort((a, b) => a - b);
  const active = await devicesRepository.lockActiveOf(trx, unique, staff.organization);
  // Which one is not said: another town's device must answer as one that never was.
  if (unique.some((deviceId) => !active.has(deviceId))) throw new Problem('device_not_found');
  await deviceAssignments.assign(trx, 'shelter', id, unique);
  await appendAudit(trx, { action: 'shelter.devices_set', actor: staffActor(staff), subject: `shelter:${id}`, details: { deviceIds: unique, ...towns(staff.municipalityCode) } });
  return viewOf(trx, id);
}

/** The shelter closes: everyone still inside is checked out now, and it takes no more taps. */
export async function closeShelter(trx: Knex.Transaction, staff: SignedInStaff, id: number, now: Date): Promise<ShelterView> {
  await ownOpenShelter(trx, staff, id);
  const checkedOut = await repo.checkOutAll(trx, id, now);
  await repo.close(trx, id, now);
  await appendAudit(trx, { action: 'shelter.closed', actor: staffActor(staff), subject: `shelter:${id}`, details: { checkedOut, ...towns(staff.municipalityCode) } });
  return viewOf(trx, id);
}

/** Who is inside the shelter and since when, and the count against its capacity. */
export async function rosterOf(db: Db, staff: SignedInStaff, id: number): Promise<ShelterRoster> {
  const shelter = await viewOf(db, (await ownShelter(db, staff, id)).id);
  const people = (await repo.inside(db, id)).map((p) => ({ mykeyId: p.mykeyId, since: p.since.toISOString(), deviceId: p.deviceId }));
  return { shelter, inside: people.length, capacity: shelter.capacity, people };
}

/** The roster as a CSV file for headquarters' Excel: a row per person inside, the time in Japan time. */
export function rosterCsv(roster: ShelterRoster): string {
  const { shelter } = roster;
  const header = ['shelter_id', 'shelter_name_ja', 'shelter_name_en', 'mykey_id', 'checked_in_at_jst', 'device_id'];
  return csvFile([header, ...roster.people.map((p) => [shelter.id, shelter.nameJa, shelter.nameEn, p.mykeyId, tokyoTime(new Date(p.since)), p.deviceId])]);
}

/** Every open shelter of the town: how many are inside against its capacity, and its latest change. */
export async function summaryOf(db: Db, staff: SignedInStaff, now: Date): Promise<ShelterSummary> {
  const shelters = await repo.list(db, staff.municipalityCode, { openOnly: true });
  const counts = await repo.counts(db, shelters.map((s) => s.id));
  return {
    at: now.toISOString(),
    shelters: shelters.map((shelter) => {
      const count = counts.get(shelter.id);
      return {
        shelter: { ...names(shelter), place: shelter.place, drill: shelter.drill }, inside: count?.inside ?? 0, capacity: shelter.capacity,
        lastChangeAt: (count && count.lastChangeAt > shelter.openedAt ? count.lastChangeAt : shelter.openedAt).toISOString(),
      };
    }),
  };
}

/** The open shelter this device serves, locked against its closing until the tap commits. */
export async function servedBy(trx: Knex.Transaction, device: EnrolledDevice): Promise<Shelter> {
  const shelter = await repo.shelterOfDevice(trx, device.id);
  if (!shelter) throw new Problem('device_not_for_shelter');
  if (shelter.closedAt) throw new Problem('shelter_closed');
  return shelter;
}

/** The tapped card's MyKey ID, usable in the device's town, locked: one resident's taps run one after another. */
async function residentOf(trx: Knex.Transaction, tap: Tap): Promise<number> {
  const card = await usableCardOf(trx, tap.card.certKey, tap.device.municipalityCode, { lock: true });
  if (!card) throw new Problem('shelter_card_unknown');
  return card.mykeyPk;
}

async function answerOf(trx: Knex.Transaction, shelter: Shelter, answer: Pick<ShelterTapAnswer, 'purpose' | 'result' | 'since' | 'outAt' | 'moved' | 'messages'>): Promise<ShelterTapAnswer> {
  const inside = (await repo.counts(trx, [shelter.id])).get(shelter.id)?.inside ?? 0;
  return { ...answer, shelter: names(shelter), inside, capacity: shelter.capacity };
}

const checkedInMessages = (shelter: Shelter, moved: boolean): Messages => ({
  ja: `${shelter.nameJa}への入所を受け付けました。${moved ? '前の避難所からは退所として記録しました。' : ''}`,
  en: `You are checked in at ${shelter.nameEn}.${moved ? ' You are checked out of the shelter you were in before.' : ''}`,
});

/**
 * A check-in tap: the resident is inside this shelter from now. Inside another shelter, they
 * move (checked out of it at this moment); inside this one already, the answer says since when
 * and nothing is written.
 */
export async function checkIn(trx: Knex.Transaction, tap: Tap): Promise<ShelterTapAnswer> {
  const shelter = await servedBy(trx, tap.device);
  const mykeyPk = await residentOf(trx, tap);
  const stay = await repo.openStayOf(trx, mykeyPk);
  if (stay?.shelterId === shelter.id) {
    const since = tokyoTime(stay.inAt);
    return answerOf(trx, shelter, {
      purpose: 'shelter_check_in', result: 'already_inside', since: stay.inAt.toISOString(),
      messages: { ja: `すでに${shelter.nameJa}に入所しています（${since} から）。`, en: `You are already checked in at ${shelter.nameEn} (since ${since}, Japan time).` },
    });
  }
  // A move between towns' shelters tells neither town of the other: the old stay ends without
  // this device, and the answer says "moved" only from a shelter of this town.
  if (stay) await repo.checkOut(trx, stay.id, tap.now, 'move', null);
  const moved = stay !== undefined && (await repo.shelter(trx, stay.shelterId))!.municipalityCode === shelter.municipalityCode;
  await repo.checkIn(trx, { shelterId: shelter.id, mykeyPk, at: tap.now, deviceId: tap.device.id });
  return answerOf(trx, shelter, { purpose: 'shelter_check_in', result: 'checked_in', since: tap.now.toISOString(), moved, messages: checkedInMessages(shelter, moved) });
}

/** A check-out tap: the resident inside this shelter is out from now; one not inside it gets a clear problem. */
export async function checkOut(trx: Knex.Transaction, tap: Tap): Promise<ShelterTapAnswer> {
  const shelter = await servedBy(trx, tap.device);
  const mykeyPk = await residentOf(trx, tap);
  const stay = await repo.openStayOf(trx, mykeyPk);
  if (stay?.shelterId !== shelter.id) throw new Problem('shelter_not_inside');
  await repo.checkOut(trx, stay.id, tap.now, 'tap', tap.device.id);
  return answerOf(trx, shelter, {
    purpose: 'shelter_check_out', result: 'checked_out', since: stay.inAt.toISOString(), outAt: tap.now.toISOString(),
    messages: { ja: `${shelter.nameJa}からの退所を記録しました。お気をつけて。`, en: `You are checked out of ${shelter.nameEn}. Take care.` },
  });
}
