// The resident's own page (わたしのページ, docs/resident.md). A card signed a `resident_page`
// challenge after its PIN at a town's device; the browser beside that device hands the signed
// challenge in once and gets a session bound to the card's MyKey ID. The session ends after its
// idle time without use, or at once when the card leaves the reader. It shows the resident's own
// points, read through the ledger's repository, and nothing of anyone else.
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { appendAudit, towns } from '../audit/chain.ts';
import type { Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import { challengeRepository } from '../card-taps/repository.ts';
import type { Tap } from '../card-taps/purposes.ts';
import { devicesRepository } from '../devices/repository.ts';
import { eventsRepository } from '../events/repository.ts';
import { ledgerRepository, type ResidentMovement as LedgerMovement } from '../ledger/repository.ts';
import { tokyoTime } from '../ledger/rules.ts';
import { mykeyInUse, usableCardOf } from '../mykey/service.ts';
import { organizationRepository } from '../organizations/repository.ts';
import { partnerRepository } from '../partners/repository.ts';
import { shopsRepository } from '../shops/repository.ts';
import { csvFile } from '../csv.ts';
import type { Messages } from '@mykey/contracts/problem-kinds.ts';
import { EXPIRING_SOON_DAYS, HISTORY_PAGE_SIZE, type MovementKind, type ResidentHistory, type ResidentMovement, type ResidentPoints, type ResidentSessionView } from '@mykey/contracts/resident.ts';
import { residentSessionsRepository as repo, type EndReason, type ResidentSession } from './repository.ts';

type Conn = Db | Knex.Transaction;

export const RESIDENT_PAGE = 'resident_page';
const DAY_MS = 86_400_000;

/** The card's MyKey ID, usable in `town`; a card never seen is resident_card_unknown (a suspended ID, a revoked card: their own problems). */
async function cardIn(conn: Conn, certKey: Buffer, town: string) {
  const card = await usableCardOf(conn, certKey, town);
  if (!card) throw new Problem('resident_card_unknown');
  return card;
}

/** The purpose's handler: refuses at the tap, before any session, a card whose page cannot open here. */
export async function checkCard(trx: Knex.Transaction, tap: Tap): Promise<object> {
  await cardIn(trx, tap.card.certKey, tap.device.municipalityCode);
  return {};
}

/** The names of these towns only: a resident holds points in one or a few (and memberships in as few). */
export async function municipalityNames(conn: Conn, codes: string[]): Promise<Map<string, Messages>> {
  return new Map(await Promise.all(codes.map(async (code) => [code, (await organizationRepository.municipalityName(conn, code))!] as const)));
}

/** How long a page stays open: without use, and at most however used. */
export interface SessionLimits { idleSeconds: number; limitSeconds: number }

const secondsUntil = (at: number, now: Date) => Math.max(0, Math.ceil((at - now.getTime()) / 1000));

/** The session as the page shows it: its town, its idle time, and what is left of it at `now`. */
export const sessionView = async (conn: Conn, session: ResidentSession, now: Date): Promise<ResidentSessionView> => {
  const limitInSeconds = secondsUntil(session.closesBy.getTime(), now);
  return {
    municipality: { code: session.municipalityCode, name: (await organizationRepository.municipalityName(conn, session.municipalityCode))! },
    idleSeconds: session.idleSeconds,
    closesInSeconds: Math.min(limitInSeconds, secondsUntil(session.lastUsedAt.getTime() + session.idleSeconds * 1000, now)),
    limitInSeconds,
  };
};

/** The signed challenge `proof` opens a session for its card at its device's town; the token goes to the browser only. */
export async function openSession(trx: Knex.Transaction, proof: string, { idleSeconds, limitSeconds }: SessionLimits, now: Date): Promise<{ token: string; view: ResidentSessionView }> {
  const { certKey, deviceId } = await challengeRepository.consumeSignedAnywhere(trx, proof, RESIDENT_PAGE, now);
  const town = await devicesRepository.activeTownDeviceOf(trx, deviceId);
  if (!town) throw new Problem('card_proof_unknown');
  const card = await cardIn(trx, certKey, town);
  const token = randomBytes(32).toString('base64url');
  const session = { mykeyPk: card.mykeyPk, municipalityCode: town, deviceId, lastUsedAt: now, idleSeconds, closesBy: new Date(now.getTime() + limitSeconds * 1000) };
  await repo.insert(trx, token, session);
  // The resident's own look, on record in the town where the card opened it.
  await appendAudit(trx, { action: 'resident_page.opened', actor: { kind: 'device', id: String(deviceId) }, subject: card.mykeyId, details: towns(town) });
  return { token, view: await sessionView(trx, session, now) };
}

/** An open session with its MyKey ID, read once with the check every use makes of it. */
export interface OpenSession extends ResidentSession { mykeyId: string }

/**
 * The open session of `token`, else resident_session_closed. A session whose MyKey ID was suspended,
 * or blocked in its town, since it opened ends now, with that problem. With `use`, its idle time starts again.
 */
export async function sessionOf(db: Db, token: string | undefined, now: Date, { use }: { use: boolean }): Promise<OpenSession> {
  const stored = token ? await repo.open(db, token, now) : undefined;
  if (!token || !stored) throw new Problem('resident_session_closed');
  const { mykeyId, refusal } = await mykeyInUse(db, stored.mykeyPk, stored.municipalityCode);
  if (refusal) {
    await repo.end(db, token, refusal, now);
    throw new Problem(refusal);
  }
  const session = { ...stored, mykeyId };
  if (!use) return session;
  await repo.touch(db, token, now);
  return { ...session, lastUsedAt: now };
}

export async function endSession(db: Db, token: string | undefined, reason: EndReason, now: Date): Promise<void> {
  if (token) await repo.end(db, token, reason, now);
}

/** Balances per town, and the lots soonest expiring first, those within EXPIRING_SOON_DAYS called out. */
export async function pointsOf(db: Db, session: ResidentSession, now: Date): Promise<ResidentPoints> {
  const [balances, lots] = await Promise.all([ledgerRepository.residentBalances(db, session.mykeyPk), ledgerRepository.residentOpenLots(db, session.mykeyPk, now)]);
  const names = await municipalityNames(db, balances.map((b) => b.municipalityCode));
  const soon = now.getTime() + EXPIRING_SOON_DAYS * DAY_MS;
  return {
    balances: balances.map((b) => ({ municipality: { code: b.municipalityCode, name: names.get(b.municipalityCode)! }, points: b.balance })),
    lots: lots.map((lot) => ({
      municipalityCode: lot.municipalityCode, arrivedBy: lot.arrivedBy === 'conversion' ? 'conversion' : 'grant', points: lot.remaining, originalPoints: lot.original,
      lastDay: lot.lastDay, expiresAt: lot.expiresAt.toISOString(), expiringSoon: lot.expiresAt.getTime() <= soon,
    })),
    expiringSoonDays: EXPIRING_SOON_DAYS,
  };
}

/** A page (from 1) of the resident's movements, newest first, each with its reason in words. */
export async function historyOf(db: Db, session: ResidentSession, page: number): Promise<ResidentHistory> {
  const [total, movements] = await Promise.all([
    ledgerRepository.residentMovementCount(db, session.mykeyPk),
    ledgerRepository.residentMovements(db, session.mykeyPk, { limit: HISTORY_PAGE_SIZE, offset: (page - 1) * HISTORY_PAGE_SIZE }),
  ]);
  return { page, pageSize: HISTORY_PAGE_SIZE, total, movements: await withReasons(db, movements) };
}

/** Every movement as a CSV file (BOM, CRLF): newest first, the reason in both languages. */
export async function historyCsv(db: Db, session: ResidentSession): Promise<string> {
  const movements = await withReasons(db, await ledgerRepository.residentMovements(db, session.mykeyPk));
  return csvFile([
    ['posted_at_japan_time', 'municipality_code', 'kind', 'points', 'reason_ja', 'reason_en'],
    ...movements.map((m) => [tokyoTime(new Date(m.at)), m.municipalityCode, m.kind, m.points, m.reason.ja, m.reason.en]),
  ]);
}

/** The names the reasons need (shops, partners, what each grant was for), read once for the page. */
async function withReasons(conn: Conn, movements: LedgerMovement[]): Promise<ResidentMovement[]> {
  const ids = (pick: (m: LedgerMovement) => number | null) => [...new Set(movements.map(pick).filter((id): id is number => id !== null))];
  const [shops, partners, grants] = await Promise.all([
    shopsRepository.merchantNames(conn, ids((m) => m.merchantId)),
    partnerRepository.names(conn, ids((m) => m.partnerId)),
    eventsRepository.recordsOf(conn, movements.filter((m) => m.kind === 'grant').map((m) => m.entryId)),
  ]);
  return movements.map((m) => {
    const kind = m.kind as MovementKind;
    const shop = m.merchantId === null ? undefined : shops.get(m.merchantId)?.name;
    const partner = m.partnerId === null ? undefined : partners.get(m.partnerId)?.name;
    const grant = grants.get(m.entryId);
    return { at: m.postedAt.toISOString(), municipalityCode: m.municipalityCode, kind, points: m.points, reason: reasonOf(kind, { shop, partner, grant }) };
  });
}

const UNNAMED: Messages = { ja: '（名称なし）', en: '(no name)' };

/** A movement's reason as the resident reads it. */
function reasonOf(kind: MovementKind, named: { shop?: Messages; partner?: Messages; grant?: { eventId: number | null; labelJa: string | null; labelEn: string | null } }): Messages {
  const shop = named.shop ?? UNNAMED;
  switch (kind) {
    case 'conversion': {
      const partner = named.partner ?? UNNAMED;
      return { ja: `${partner.ja}から交換`, en: `Converted from ${partner.en}` };
    }
    case 'grant': {
      const label = named.grant?.labelJa ? { ja: named.grant.labelJa, en: named.grant.labelEn ?? named.grant.labelJa } : undefined;
      if (named.grant?.eventId != null) return { ja: `イベント参加：${label!.ja}`, en: `For taking part in an event: ${label!.en}` };
      return label ? { ja: `自治体からの付与（${label.ja}）`, en: `Granted by the municipality (${label.en})` } : { ja: '自治体からの付与', en: 'Granted by the municipality' };
    }
    case 'payment': return { ja: `${shop.ja}でのお支払い`, en: `Paid at ${shop.en}` };
    case 'refund': return { ja: `${shop.ja}からの返金`, en: `Refunded by ${shop.en}` };
    case 'void': return { ja: `${shop.ja}でのお支払いの取り消し`, en: `Payment at ${shop.en} cancelled` };
    case 'expiry': return { ja: '有効期限切れ', en: 'Expired' };
  }
}
