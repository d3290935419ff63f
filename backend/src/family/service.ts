// Families find each other (docs/family.md). Two residents consent, each with card and PIN, to
// learn which shelter the other is inside: one offers under a code, the other accepts that code
// within minutes; either withdraws, which ends it for both. Nobody asks "where is this person":
// a resident learns only of those who consented with them, and only at a tap of their own card.
import { randomBytes, randomInt } from 'node:crypto';
import type { Knex } from 'knex';
import { appendAudit, towns, type AuditEvent } from '../audit/chain.ts';
import type { Db } from '../db.ts';
import type { EnrolledDevice } from '../devices/repository.ts';
import { Problem } from '../http/problems.ts';
import { usableCardOf } from '../mykey/service.ts';
import type { Tap } from '../card-taps/purposes.ts';
import { sheltersRepository } from '../shelters/repository.ts';
import { names, servedBy } from '../shelters/service.ts';
import { tokyoTime } from '../ledger/rules.ts';
import type { Messages } from '@mykey/contracts/problem-kinds.ts';
import type { FamilyTerms } from '@mykey/contracts/challenge-text.ts';
import type { ResidentFamily } from '@mykey/contracts/resident-links.ts';
import { FAMILY_CODE_ALPHABET, type FamilyAcceptAnswer, type FamilyInside, type FamilyOfferAnswer, type FamilyRequest, type FamilyRequestView, type FamilyWhereabouts, type FamilyWhereaboutsAnswer, type FamilyWithdrawAnswer } from '@mykey/contracts/family.ts';
import { familyRepository as repo, type FamilyAction, type Pairing } from './repository.ts';

type Conn = Db | Knex.Transaction;

/** How long a request waits for the card at the counter: long enough for a PIN and a second try. */
const REQUEST_SECONDS = 300;
/** How long an offer waits for the family member to accept it, at this counter or another of the town. */
const OFFER_SECONDS = 600;
// 31^8 ≈ 8.5e11 codes: a repeat is a bug, not bad luck.
const MAX_CODE_TRIES = 8;

const deviceActor = (device: EnrolledDevice): AuditEvent['actor'] => ({ kind: 'device', id: String(device.id) });

const freshCode = (): string => Array.from({ length: 8 }, () => FAMILY_CODE_ALPHABET[randomInt(FAMILY_CODE_ALPHABET.length)]).join('');

/** A code never handed out before. */
async function unusedCode(trx: Knex.Transaction): Promise<string> {
  for (let tries = 0; tries < MAX_CODE_TRIES; tries++) {
    const code = freshCode();
    if (!(await repo.offerCodeTaken(trx, code))) return code;
  }
  throw new Error(`${MAX_CODE_TRIES} family codes in a row were taken`);
}

/** The offer of this code in the device's town, still open to acceptance now; another town's is as good as none. */
async function openOffer(conn: Conn, municipalityCode: string, code: string, now: Date, { lock = false } = {}): Promise<Pairing> {
  const pairing = await repo.pairingByCode(conn, code, { lock });
  if (!pairing || pairing.municipalityCode !== municipalityCode) throw new Problem('family_code_unknown');
  if (pairing.linkedAt || pairing.endedAt) throw new Problem('family_offer_closed');
  if (pairing.acceptBy <= now) throw new Problem('family_offer_expired');
  return pairing;
}

/**
 * A counter device's request, shown to the resident before the card signs it: an offer under a
 * fresh code, or the acceptance of the code the resident typed (refused now if it cannot be
 * accepted, so nobody types a PIN for nothing). Only a town's own devices ask.
 */
export async function openRequest(trx: Knex.Transaction, device: EnrolledDevice, body: FamilyRequest, now: Date): Promise<FamilyRequestView> {
  if (device.organization.kind !== 'municipality') throw new Problem('purpose_not_for_device');
  const offer = body.action === 'accept' ? await openOffer(trx, device.municipalityCode, body.code, now) : undefined;
  const code = body.action === 'accept' ? body.code : await unusedCode(trx);
  const id = `fr_${randomBytes(16).toString('base64url')}`;
  const expiresAt = new Date(now.getTime() + REQUEST_SECONDS * 1000);
  await repo.insertRequest(trx, { id, municipalityCode: device.municipalityCode, deviceId: device.id, action: body.action, code, label: body.label, pairingId: offer?.id ?? null, createdAt: now, expiresAt });
  return { requestId: id, action: body.action, code, label: body.label, offererLabel: offer?.offererLabel ?? null, expiresAt: expiresAt.toISOString() };
}

/** The terms a family challenge binds: this device's open request of this action (another device's is as good as unknown). */
export async function requestTerms(conn: Conn, device: EnrolledDevice, action: FamilyAction, requestId: string, now: Date): Promise<FamilyTerms> {
  const request = await repo.request(conn, requestId);
  if (!request || request.deviceId !== device.id || request.action !== action) throw new Problem('family_request_not_found');
  if (request.status !== 'open' || request.expiresAt <= now) throw new Problem('family_request_expired');
  const offer = request.pairingId === null ? undefined : await openOffer(conn, request.municipalityCode, request.code, now);
  return { requestId, action, code: request.code, label: request.label, offererLabel: offer?.offererLabel ?? null };
}

/** The signed request, still open, used up now; and the card's MyKey ID, usable in the device's town, locked. */
async function signedRequest(trx: Knex.Transaction, tap: Tap<FamilyTerms>) {
  const request = await repo.request(trx, tap.terms!.requestId, { lock: true });
  if (!request || request.status !== 'open' || request.expiresAt <= tap.now) throw new Problem('family_request_expired');
  const card = await cardOf(trx, tap, { lock: true });
  await repo.markRequestDone(trx, request.id);
  return { request, card };
}

async function cardOf(conn: Conn, tap: Tap, { lock = false } = {}) {
  const card = await usableCardOf(conn, tap.card.certKey, tap.device.municipalityCode, { lock });
  if (!card) throw new Problem('family_card_unknown');
  return card;
}

/** The card signed an offer: the pairing waits for the card that accepts its code. */
export async function offer(trx: Knex.Transaction, tap: Tap<FamilyTerms>): Promise<FamilyOfferAnswer> {
  const { request, card } = await signedRequest(trx, tap);
  const acceptBy = new Date(tap.now.getTime() + OFFER_SECONDS * 1000);
  await repo.insertOffer(trx, { municipalityCode: request.municipalityCode, code: request.code, mykeyPk: card.mykeyPk, label: request.label, at: tap.now, acceptBy });
  // What was consented to, never with whom: the other party is not named where staff can read (docs/family.md).
  await appendAudit(trx, { action: 'family.offered', actor: deviceActor(tap.device), subject: card.mykeyId, details: towns(request.municipalityCode) });
  const until = tokyoTime(acceptBy);
  return {
    purpose: 'family_offer', code: request.code, label: request.label, acceptBy: acceptBy.toISOString(),
    messages: {
      ja: `申し出を受け付けました。ご家族に確認コード ${request.code} をお伝えください。${until} までに市の窓口でご家族が承諾すると、お互いの避難先がわかるようになります。`,
      en: `Your offer is recorded. Give your family member the code ${request.code}: once they accept it at a town counter by ${until} (Japan time), each of you can see which shelter the other is in.`,
    },
  };
}

/** The card signed an acceptance: the two residents are linked, unless it is the offerer's own card or they are already. */
export async function accept(trx: Knex.Transaction, tap: Tap<FamilyTerms>): Promise<FamilyAcceptAnswer> {
  const { request, card } = await signedRequest(trx, tap);
  const pairing = await openOffer(trx, request.municipalityCode, request.code, tap.now, { lock: true });
  if (pairing.offererMykeyPk === card.mykeyPk) throw new Problem('family_same_card');
  const linked = (await repo.currentOf(trx, card.mykeyPk)).some((p) => p.linkedAt && otherOf(p, card.mykeyPk) === pairing.offererMykeyPk);
  if (linked) throw new Problem('family_already_linked');
  await repo.link(trx, pairing.id, card.mykeyPk, request.label, tap.now);
  await appendAudit(trx, { action: 'family.accepted', actor: deviceActor(tap.device), subject: card.mykeyId, details: towns(request.municipalityCode) });
  return {
    purpose: 'family_accept', offererLabel: pairing.offererLabel, label: request.label, linkedAt: tap.now.toISOString(), family: await whereaboutsOf(trx, card.mykeyPk),
    messages: {
      ja: `${pairing.offererLabel}さんとの同意が成立しました。避難所で受付すると、お互いの避難先がわかります。`,
      en: `You and ${pairing.offererLabel} have both consented: when either of you checks in at a shelter, the other can see where.`,
    },
  };
}

/** The card signed a withdrawal: every consent it is part of ends now, for both residents, and every offer it made waiting. */
export async function withdraw(trx: Knex.Transaction, tap: Tap): Promise<FamilyWithdrawAnswer> {
  const card = await cardOf(trx, tap, { lock: true });
  const current = await repo.currentOf(trx, card.mykeyPk, { lock: true });
  if (current.length === 0) throw new Problem('family_nothing_to_withdraw');
  const ended = await endPairings(trx, current, card.mykeyId, { actor: deviceActor(tap.device), details: towns(tap.device.municipalityCode) }, tap.now);
  return {
    purpose: 'family_withdraw', ended,
    messages: {
      ja: '家族の避難先確認の同意をすべて取り消しました。相手の方も、あなたの避難先を見られなくなりました。',
      en: 'Every family consent of this card is withdrawn: neither you nor they can see each other\'s shelter any more.',
    },
  };
}

/**
 * The one way consents end, whoever withdraws (the card at a counter, the resident on their own
 * page): these pairings end now, for both residents; on record as family.withdrawn with how many
 * consents and waiting offers ended, never with whom. How many consents ended.
 */
async function endPairings(trx: Knex.Transaction, pairings: Pairing[], mykeyId: string, by: { actor: AuditEvent['actor']; details: Record<string, unknown> }, now: Date): Promise<number> {
  await repo.end(trx, pairings.map((p) => p.id), now);
  const ended = pairings.filter((p) => p.linkedAt).length;
  await appendAudit(trx, { action: 'family.withdrawn', actor: by.actor, subject: mykeyId, details: { ended, offers: pairings.length - ended, ...by.details } });
  return ended;
}

/** The resident's consents and their offers still open to acceptance at `now`, as their own page lists them (docs/resident.md). */
export async function consentsOf(conn: Conn, mykeyPk: number, now: Date): Promise<ResidentFamily> {
  const current = await repo.currentOf(conn, mykeyPk);
  return {
    consents: current.filter((p) => p.linkedAt).map((p) => {
      const mine = p.offererMykeyPk === mykeyPk;
      return { id: p.id, theirLabel: mine ? p.accepterLabel! : p.offererLabel, myLabel: mine ? p.offererLabel : p.accepterLabel!, since: p.linkedAt!.toISOString() };
    }),
    offers: current.filter((p) => !p.linkedAt && p.acceptBy > now).map((p) => ({ id: p.id, code: p.code, myLabel: p.offererLabel, acceptBy: p.acceptBy.toISOString() })),
  };
}

/**
 * The resident withdraws one consent, or one offer of theirs still waiting, on their own page
 * (opened with card and PIN at the kiosk `deviceId` of `town`): it ends for both residents. One
 * ended already, or another's, is as good as none.
 */
export async function withdrawOne(trx: Knex.Transaction, resident: { mykeyPk: number; mykeyId: string }, kiosk: { deviceId: number; town: string }, pairingId: number, now: Date): Promise<{ ended: number }> {
  const pairing = (await repo.currentOf(trx, resident.mykeyPk, { lock: true })).find((p) => p.id === pairingId);
  if (!pairing) throw new Problem('family_consent_not_found');
  const by = { actor: { kind: 'device', id: String(kiosk.deviceId) } as const, details: { via: 'resident_page', ...towns(kiosk.town, pairing.municipalityCode) } };
  return { ended: await endPairings(trx, [pairing], resident.mykeyId, by, now) };
}

const otherOf = (pairing: Pairing, mykeyPk: number): number | null => (pairing.offererMykeyPk === mykeyPk ? pairing.accepterMykeyPk : pairing.offererMykeyPk);

/** The resident's consented family inside a shelter now: the label each chose, the shelter, since when. Nobody else's. */
export async function whereaboutsOf(conn: Conn, mykeyPk: number): Promise<FamilyWhereabouts> {
  const linked = (await repo.currentOf(conn, mykeyPk)).filter((p) => p.linkedAt);
  const labels = new Map(linked.map((p) => [otherOf(p, mykeyPk)!, p.offererMykeyPk === mykeyPk ? p.accepterLabel! : p.offererLabel]));
  const stays = (await sheltersRepository.insideOf(conn, [...labels.keys()])).sort((a, b) => a.since.getTime() - b.since.getTime());
  const inside = stays.map(({ mykeyPk: other, since, shelter }) => ({ label: labels.get(other)!, shelter: { ...names(shelter), place: shelter.place }, since: since.toISOString() }));
  return { linked: labels.size, inside, messages: whereaboutsMessages(labels.size, inside) };
}

/** What the screen says of the family: who is where, or that nobody consented yet. */
function whereaboutsMessages(linked: number, inside: FamilyInside[]): Messages {
  if (linked === 0) return { ja: '避難先を確認し合うご家族の同意はありません。', en: 'No family member has consented with you to share shelters.' };
  const ja = inside.map((f) => `${f.label}：${f.shelter.nameJa}（${f.shelter.place}、${tokyoTime(new Date(f.since))} から）`);
  const en = inside.map((f) => `${f.label}: ${f.shelter.nameEn} (${f.shelter.place}, since ${tokyoTime(new Date(f.since))} Japan time)`);
  return {
    ja: `同意したご家族${linked}人のうち、${inside.length}人が避難所にいます。${ja.join('　')}`,
    en: `${inside.length} of the ${linked} family members who consented with you ${inside.length === 1 ? 'is' : 'are'} in a shelter. ${en.join('; ')}`.trim(),
  };
}

/** A tap at a shelter's desk asking where the family are; it records nothing. */
export async function whereabouts(trx: Knex.Transaction, tap: Tap): Promise<FamilyWhereaboutsAnswer> {
  const shelter = await servedBy(trx, tap.device);
  const family = await whereaboutsOf(trx, (await cardOf(trx, tap)).mykeyPk);
  return { purpose: 'family_whereabouts', shelter: names(shelter), family, messages: family.messages };
}

/** The check-in's answer with where the resident's consented family are (whatever the check-in answered). */
export async function withWhereabouts(trx: Knex.Transaction, tap: Tap, answer: object): Promise<object> {
  return { ...answer, family: await whereaboutsOf(trx, (await cardOf(trx, tap)).mykeyPk) };
}
