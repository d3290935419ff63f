// Issuing MyKey IDs, resolving a card to its MyKey ID, linking a resident's new card to it
// (renewal) and suspending it. A MyKey ID logs in with one card at a time: linking a new card
// ends the card it had. Each ID has a home municipality whose staff alone act on it as a whole;
// any town may block it from its own services (docs/security/tenancy.md).
import type { Knex } from 'knex';
import type { AuditEvent } from '../audit/chain.ts';
import { appendAudit, eventsAbout, recordAudit, towns, type TownView } from '../audit/chain.ts';
import { ConcurrentChange, type Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import { certificateKey, mykeyIdCandidate } from './id.ts';
import type { CardIdentity } from '../jpki/card-proof.ts';
import type { SignedInStaff } from '../staff/repository.ts';
import type { EnrolledDevice } from '../devices/repository.ts';
import { organizationLabel } from '../staff/organization.ts';
import { IsolationRefusal } from '../staff/refusals.ts';
import type { LinkMethod, MykeyEvent, MykeyView, TownBlockView, TownMykeyView } from '@mykey/contracts/mykeys.ts';
import { mykeyRepository as repo, type CardBinding, type MykeyRecord, type TownBlock } from './repository.ts';

// At 120 million residents an ID is taken with probability ~0.35 %; 16 taken in a row is
// ~1e-39 (docs/mykey-id.md), so running out means a bug, not bad luck.
const MAX_CANDIDATES = 16;

/** What a line of the national linkage file did (see linkage.ts). */
export type LinkageOutcome = 'linked' | 'already_linked' | 'old_unknown' | 'new_already_has_mykey';

/** Where a linkage record came from, for the audit log. */
export interface LinkageSource { file: string; line: number }

const blockView = (block: TownBlock | undefined): TownBlockView | null =>
  block ? { at: block.at.toISOString(), reason: block.reason, staff: { id: block.staffId, name: block.staffName } } : null;

/**
 * What a linkage record "old card → new card" comes to, from the two cards' bindings:
 * undefined means the new card is to be linked to the old card's MyKey ID.
 */
export function linkageDecision(old: CardBinding | undefined, next: CardBinding | undefined): Exclude<LinkageOutcome, 'linked'> | undefined {
  if (!old) return 'old_unknown';
  if (next) return next.mykeyPk === old.mykeyPk ? 'already_linked' : 'new_already_has_mykey';
  return undefined;
}

type Conn = Db | Knex.Transaction;

const VIEWED = 'mykey.viewed';

const staffActor = (staff: SignedInStaff): AuditEvent['actor'] => ({ kind: 'staff', id: String(staff.id) });
const deviceActor = (device: Pick<EnrolledDevice, 'id'>): AuditEvent['actor'] => ({ kind: 'device', id: String(device.id) });

/** The card's keyed hash, as MyKey IDs and challenges know it: `secret` is the MyKey secret (config.ts). */
export const keyOf = (secret: Buffer, card: CardIdentity): Buffer => certificateKey(secret, card.issuerDer, card.serialHex);

/** A card's binding; `lock` holds the card's and its MyKey ID's rows until the transaction ends. */
async function bindingOf(conn: Conn, certKey: Buffer, { lock = false } = {}): Promise<CardBinding | undefined> {
  return (await repo.bindingsOf(conn, [certKey], { lock })).get(certKey.toString('hex'));
}

/** The MyKey ID a card may log in as; a replaced or revoked card, or a suspended ID, may not. */
function usable(binding: CardBinding): CardBinding {
  if (binding.certificateStatus === 'replaced') throw new Problem('certificate_replaced');
  if (binding.certificateStatus === 'revoked') throw new Problem('certificate_revoked', 'This card was found revoked; its MyKey ID waits for a new card to be linked.');
  if (binding.mykeyStatus === 'suspended') throw new Problem('mykey_suspended');
  return binding;
}

/** Usable, and not blocked from the services of the town where the card is used. */
function usableHere(binding: CardBinding, blockedHere: boolean): CardBinding {
  usable(binding);
  if (blockedHere) throw new Problem('mykey_blocked_here');
  return binding;
}

/** Usable, and not blocked from the services of `town` (where the card is used). */
async function usableIn(conn: Conn, binding: CardBinding, town: string): Promise<CardBinding> {
  return usableHere(binding, Boolean(await repo.townBlock(conn, binding.mykeyPk, town)));
}

/** The card's binding if it has one, usable in `town`: one read (bindingIn). */
async function usableBindingIn(conn: Conn, certKey: Buffer, town: string, options: { lock?: boolean } = {}): Promise<CardBinding | undefined> {
  const binding = await repo.bindingIn(conn, certKey, town, options);
  return binding && usableHere(binding, binding.blockedHere);
}

async function issue(trx: Knex.Transaction, secret: Buffer, card: CardIdentity, device: EnrolledDevice, now: Date): Promise<string> {
  const home = device.municipalityCode;
  for (let attempt = 0; attempt < MAX_CANDIDATES; attempt++) {
    const mykeyId = mykeyIdCandidate(secret, card.issuerDer, card.serialHex, attempt);
    const mykeyPk = await repo.insertMykey(trx, mykeyId, home, now);
    if (mykeyPk === undefined) continue;
    try {
      await repo.linkCertificate(trx, keyOf(secret, card), mykeyPk, 'issued', now);
    } catch (error) {
      // The same card, issued at this moment through another device: run again to find it.
      if ((error as { code?: string }).code === 'ER_DUP_ENTRY') throw new ConcurrentChange('card issued concurrently');
      throw error;
    }
    await appendAudit(trx, { action: 'mykey.issued', actor: deviceActor(device), subject: mykeyId, details: { attempt, ...towns(home) } });
    return mykeyId;
  }
  throw new Error(`no free MyKey ID among ${MAX_CANDIDATES} candidates`);
}

/** A MyKey ID, or mykey_not_found. */
async function existing(conn: Conn, mykeyId: string, { lock = false } = {}): Promise<MykeyRecord> {
  const mykey = await repo.findMykey(conn, mykeyId, { lock });
  if (!mykey) throw new Problem('mykey_not_found');
  return mykey;
}

/**
 * A MyKey ID whose home town is the staff member's; to any other town's staff it does not
 * exist: the same mykey_not_found, from the same place in every caller (audited on the way out).
 */
async function ofHomeTown(conn: Conn, mykeyId: string, staff: SignedInStaff, { lock = false } = {}): Promise<MykeyRecord> {
  const mykey = await existing(conn, mykeyId, { lock });
  if (mykey.homeMunicipalityCode !== staff.municipalityCode) throw new IsolationRefusal('mykey_not_found', mykeyId, mykey.homeMunicipalityCode);
  return mykey;
}

/**
 * Its events the town may see (docs/security/tenancy.md), as staff read them. Looks at the
 * record, and at its memberships by member number (town-services/), are left out: they stay in
 * the audit log, but every look would otherwise push what happened to the ID out of the list.
 */
async function eventViews(conn: Conn, mykeyId: string, town: TownView): Promise<MykeyEvent[]> {
  const events = await eventsAbout(conn, mykeyId, { town, exceptActions: [VIEWED, 'membership.viewed'] });
  return events.map(({ seq, occurredAt, action, actor, details }) => ({ seq, at: occurredAt.toISOString(), action, actor, details }));
}

/** Every staff look at a MyKey ID is on record, in the viewer's town. */
async function auditView(db: Db, mykeyId: string, staff: SignedInStaff, scope: 'record' | 'town'): Promise<void> {
  await recordAudit(db, { action: VIEWED, actor: staffActor(staff), subject: mykeyId, details: { scope, ...towns(staff.municipalityCode) } });
}

/** Links a card never seen before to a MyKey ID in place of the card it had. */
async function linkNewCard(trx: Knex.Transaction, mykeyPk: number, newKey: Buffer, method: LinkMethod, now: Date): Promise<void> {
  const existing = await bindingOf(trx, newKey);
  if (existing) {
    throw new Problem('card_already_linked', existing.mykeyPk === mykeyPk
      ? 'The new card is already linked to this MyKey ID.'
      : 'The new card has a MyKey ID of its own; two MyKey IDs cannot be merged here.');
  }
  await repo.replaceActiveCertificates(trx, mykeyPk, now);
  try {
    await repo.linkCertificate(trx, newKey, mykeyPk, method, now);
  } catch (error) {
    // The same new card, linked or issued at this moment elsewhere: run again to see where it went.
    if ((error as { code?: string }).code === 'ER_DUP_ENTRY') throw new ConcurrentChange('card linked concurrently');
    throw error;
  }
}

/**
 * Logs a card in at a device: its MyKey ID, issued on first use (at `now`, the tap's time) with
 * the device's town as its home (the same card always gets the same ID). A town's block refuses it there.
 */
export async function loginOrIssue(trx: Knex.Transaction, secret: Buffer, card: CardIdentity, device: EnrolledDevice, now: Date): Promise<{ mykeyId: string; issued: boolean }> {
  const binding = await usableBindingIn(trx, keyOf(secret, card), device.municipalityCode);
  if (binding) return { mykeyId: binding.mykeyId, issued: false };
  return { mykeyId: await issue(trx, secret, card, device, now), issued: true };
}

/**
 * The MyKey ID of a card, if it has one it may use in `town`'s services; undefined for a card
 * never seen. With `lock` (a payment), a suspension or relink waits until the caller's transaction ends.
 */
export async function usableMykeyOf(conn: Conn, certKey: Buffer, town: string, { lock = false } = {}): Promise<string | undefined> {
  return (await usableCardOf(conn, certKey, town, { lock }))?.mykeyId;
}

/** usableMykeyOf with the MyKey ID's key too, for a feature whose rows hang off the MyKey ID (memberships). */
export async function usableCardOf(conn: Conn, certKey: Buffer, town: string, { lock = false } = {}): Promise<{ mykeyPk: number; mykeyId: string } | undefined> {
  const binding = await usableBindingIn(conn, certKey, town, { lock });
  return binding && { mykeyPk: binding.mykeyPk, mykeyId: binding.mykeyId };
}

/** A MyKey ID in use in `town`: its ID, and why it may be used no longer (suspended, or blocked there since), if it may not. */
export async function mykeyInUse(conn: Conn, mykeyPk: number, town: string): Promise<{ mykeyId: string; refusal?: 'mykey_suspended' | 'mykey_blocked_here' }> {
  const [mykeys, block] = await Promise.all([repo.byPks(conn, [mykeyPk]), repo.townBlock(conn, mykeyPk, town)]);
  const { mykeyId, status } = mykeys.get(mykeyPk)!;
  if (status === 'suspended') return { mykeyId, refusal: 'mykey_suspended' };
  return block ? { mykeyId, refusal: 'mykey_blocked_here' } : { mykeyId };
}

/** A revoked certificate stops logging in for good; its MyKey ID waits for a relink. */
export async function noteRevoked(db: Db, certKey: Buffer, now: Date): Promise<void> {
  await db.transaction(async (trx) => {
    const binding = await bindingOf(trx, certKey);
    if (!binding || binding.certificateStatus !== 'active') return;
    await repo.markRevoked(trx, certKey, now);
    await appendAudit(trx, { action: 'mykey.certificate_revoked', actor: { kind: 'system', id: 'crl' }, subject: binding.mykeyId });
  });
}

/**
 * Renewal with both cards: the old card (which must still log in) and the new one signed
 * at the same device. The new card takes the old one's place on its MyKey ID.
 */
export async function relinkBothCards(trx: Knex.Transaction, oldKey: Buffer, newKey: Buffer, device: EnrolledDevice, now: Date): Promise<string> {
  if (oldKey.equals(newKey)) throw new Problem('card_already_linked', 'Both proofs are of the same card: tap the old card first, then the new one.');
  const old = await bindingOf(trx, oldKey, { lock: true });
  if (!old) throw new Problem('card_not_linked');
  const { mykeyPk, mykeyId, homeMunicipalityCode } = await usableIn(trx, old, device.municipalityCode);
  await linkNewCard(trx, mykeyPk, newKey, 'both_cards', now);
  // The identity's event (its home's) done at this town's device (this town's too).
  await appendAudit(trx, { action: 'mykey.relinked', actor: deviceActor(device), subject: mykeyId, details: { method: 'both_cards', ...towns(homeMunicipalityCode, device.municipalityCode) } });
  return mykeyId;
}

/**
 * The resident moves their MyKey ID's home to the town of this device: their card signed a
 * 'home_move' challenge here, after the PIN. Nobody else can move it. On record in both towns,
 * with `details` saying how, when it was not the device's own call (the resident's page: `via`).
 */
export async function moveHome(trx: Knex.Transaction, certKey: Buffer, device: Pick<EnrolledDevice, 'id' | 'municipalityCode'>, details: { via?: 'resident_page' } = {}): Promise<string> {
  const binding = await bindingOf(trx, certKey, { lock: true });
  if (!binding) throw new Problem('card_not_registered');
  const { mykeyPk, mykeyId, homeMunicipalityCode: from } = await usableIn(trx, binding, device.municipalityCode);
  const to = device.municipalityCode;
  if (from === to) throw new Problem('mykey_home_unchanged');
  await repo.moveHome(trx, mykeyPk, to);
  await appendAudit(trx, { action: 'mykey.home_moved', actor: deviceActor(device), subject: mykeyId, details: { from, to, ...details, ...towns(from, to) } });
  return mykeyId;
}

/**
 * Renewal at the counter: staff checked the person's documents, so the old card need not
 * sign (it is usually lost, revoked or expired). A suspended ID stays suspended.
 */
export async function relinkAtCounter(trx: Knex.Transaction, mykeyId: string, newKey: Buffer, staff: SignedInStaff, reason: string, now: Date): Promise<void> {
  const mykey = await ofHomeTown(trx, mykeyId, staff, { lock: true });
  await linkNewCard(trx, mykey.pk, newKey, 'counter', now);
  await appendAudit(trx, {
    action: 'mykey.relinked', actor: staffActor(staff), subject: mykeyId,
    details: { method: 'counter', organization: organizationLabel(staff.organization), ...towns(mykey.homeMunicipalityCode) }, texts: { reason },
  });
}

/**
 * Renewal from J-LIS's linkage file: the old card's MyKey ID gets the new card, whatever
 * the old card's state (it is usually revoked by then). Re-checked here under lock; the
 * importer's batch look-ups only spare it the transactions for cards that are not ours.
 */
export async function linkFromFile(trx: Knex.Transaction, oldKey: Buffer, newKey: Buffer, source: LinkageSource, now: Date): Promise<LinkageOutcome> {
  const old = await bindingOf(trx, oldKey, { lock: true });
  if (!old) return 'old_unknown';
  const decided = linkageDecision(old, await bindingOf(trx, newKey));
  if (decided) return decided;
  await linkNewCard(trx, old.mykeyPk, newKey, 'linkage_file', now);
  await appendAudit(trx, { action: 'mykey.relinked', actor: { kind: 'system', id: 'import' }, subject: old.mykeyId, details: { method: 'linkage_file', ...source } });
  return 'linked';
}

/** Suspension stops the identity everywhere: its home town's staff alone decide it. */
export async function suspend(trx: Knex.Transaction, mykeyId: string, staff: SignedInStaff, reason: string, now: Date): Promise<void> {
  const mykey = await ofHomeTown(trx, mykeyId, staff, { lock: true });
  if (mykey.status === 'suspended') throw new Problem('mykey_already_suspended');
  await repo.suspend(trx, mykey.pk, staff.id, reason, now);
  await appendAudit(trx, { action: 'mykey.suspended', actor: staffActor(staff), subject: mykeyId, details: { organization: organizationLabel(staff.organization), ...towns(mykey.homeMunicipalityCode) }, texts: { reason } });
}

export async function reinstate(trx: Knex.Transaction, mykeyId: string, staff: SignedInStaff, reason: string): Promise<void> {
  const mykey = await ofHomeTown(trx, mykeyId, staff, { lock: true });
  if (mykey.status !== 'suspended') throw new Problem('mykey_not_suspended');
  await repo.reinstate(trx, mykey.pk);
  await appendAudit(trx, { action: 'mykey.reinstated', actor: staffActor(staff), subject: mykeyId, details: { organization: organizationLabel(staff.organization), ...towns(mykey.homeMunicipalityCode) }, texts: { reason } });
}

/** A town blocks a MyKey ID from its own services (payments at its shops, its grants, its devices); other towns are unaffected. */
export async function block(trx: Knex.Transaction, mykeyId: string, staff: SignedInStaff, reason: string, now: Date): Promise<void> {
  const mykey = await existing(trx, mykeyId, { lock: true });
  if (await repo.townBlock(trx, mykey.pk, staff.municipalityCode, { lock: true })) throw new Problem('mykey_already_blocked');
  await repo.insertTownBlock(trx, mykey.pk, staff.municipalityCode, staff.id, reason, now);
  await appendAudit(trx, { action: 'mykey.blocked', actor: staffActor(staff), subject: mykeyId, details: { organization: organizationLabel(staff.organization), ...towns(staff.municipalityCode) }, texts: { reason } });
}

export async function unblock(trx: Knex.Transaction, mykeyId: string, staff: SignedInStaff, reason: string): Promise<void> {
  const mykey = await existing(trx, mykeyId, { lock: true });
  if (!(await repo.townBlock(trx, mykey.pk, staff.municipalityCode, { lock: true }))) throw new Problem('mykey_not_blocked');
  await repo.deleteTownBlock(trx, mykey.pk, staff.municipalityCode);
  await appendAudit(trx, { action: 'mykey.unblocked', actor: staffActor(staff), subject: mykeyId, details: { organization: organizationLabel(staff.organization), ...towns(staff.municipalityCode) }, texts: { reason } });
}

/**
 * The whole record, for its home town's staff: status, suspension, cards and the history the
 * home town may see. Any other town's staff get mykey_not_found, as for an ID that does not exist.
 */
export async function view(db: Db, mykeyId: string, staff: SignedInStaff): Promise<MykeyView> {
  const mykey = await ofHomeTown(db, mykeyId, staff);
  const town = { code: mykey.homeMunicipalityCode, home: true };
  const [cards, block, events] = await Promise.all([
    repo.certificatesOf(db, mykey.pk), repo.townBlock(db, mykey.pk, town.code), eventViews(db, mykey.mykeyId, town)]);
  await auditView(db, mykeyId, staff, 'record');
  const { suspension } = mykey;
  return {
    mykeyId: mykey.mykeyId,
    status: mykey.status,
    issuedAt: mykey.issuedAt.toISOString(),
    homeMunicipalityCode: mykey.homeMunicipalityCode,
    suspension: suspension && { at: suspension.at.toISOString(), reason: suspension.reason, staff: { id: suspension.staffId, name: suspension.staffName } },
    townBlock: blockView(block),
    cards: cards.map((card) => ({ status: card.status, linkMethod: card.linkMethod, linkedAt: card.linkedAt.toISOString(), endedAt: card.endedAt?.toISOString() ?? null })),
    events,
  };
}

/** What any town's staff see of a MyKey ID: their own block of it and their own events. */
export async function townView(db: Db, mykeyId: string, staff: SignedInStaff): Promise<TownMykeyView> {
  const mykey = await existing(db, mykeyId);
  const town = { code: staff.municipalityCode, home: mykey.homeMunicipalityCode === staff.municipalityCode };
  const [block, events] = await Promise.all([repo.townBlock(db, mykey.pk, town.code), eventViews(db, mykey.mykeyId, town)]);
  await auditView(db, mykeyId, staff, 'town');
  return { mykeyId: mykey.mykeyId, municipalityCode: town.code, townBlock: blockView(block), events };
}
