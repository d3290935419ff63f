// What each grant was for (docs/events.md, "The category travels with the grant"): a record beside
// every ledger grant — by staff one by one, from a CSV file, or at an event — naming its category,
// its event, and the name the resident's history shows ("ボランティア清掃活動 50pt"). grants/
// and this folder's event taps write it in the grant's own transaction.
import type { Knex } from 'knex';
import { recordAudit, towns } from '../audit/chain.ts';
import type { Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import { mykeyRepository } from '../mykey/repository.ts';
import type { SignedInStaff } from '../staff/repository.ts';
import type { GrantRecordView } from '@mykey/contracts/events.ts';
import { eventsRepository as repo, type Category, type Event, type GrantRecord } from './repository.ts';

export const categoryRef = (c: Category) => ({ id: c.id, nameJa: c.nameJa, nameEn: c.nameEn });

/** What a grant was for, in the same transaction as the grant: the resident's history and the town's figures read it. */
export interface GrantPurpose { category: Category | undefined; event?: Event }

/** The record beside a grant just posted (not a replay): its category, its event, and the name the history shows. */
export async function recordGrant(trx: Knex.Transaction, grants: Array<{ entryId: number; municipalityCode: string; mykeyPk: number; points: number; postedAt: Date; for: GrantPurpose }>): Promise<void> {
  await repo.insertRecords(trx, grants.map((g) => {
    const named = g.for.event ?? g.for.category;
    return {
      entryId: g.entryId, municipalityCode: g.municipalityCode, mykeyPk: g.mykeyPk, points: g.points, postedAt: g.postedAt,
      categoryId: g.for.event?.categoryId ?? g.for.category?.id ?? null, eventId: g.for.event?.id ?? null,
      labelJa: named?.nameJa ?? null, labelEn: named?.nameEn ?? null,
    };
  }));
}

/** A category of the staff member's town, by id; another town's is as good as unknown. */
export async function ownCategory(conn: Knex.Transaction | Db, municipalityCode: string, id: number | undefined): Promise<Category | undefined> {
  if (id === undefined) return undefined;
  const category = await repo.category(conn, municipalityCode, { id });
  if (!category) throw new Problem('event_category_not_found');
  return category;
}

/** How many of a resident's grants their history shows. */
const HISTORY = 100;

export const recordView = (r: GrantRecord): GrantRecordView => ({
  entryId: r.entryId, postedAt: r.postedAt.toISOString(), points: r.points,
  label: r.labelJa === null ? null : { ja: r.labelJa, en: r.labelEn ?? r.labelJa }, categoryId: r.categoryId, eventId: r.eventId,
});

/** A resident's grants in the staff member's town, newest first; the look is on record, as a look at a MyKey ID is. */
export async function grantHistory(db: Db, staff: SignedInStaff, mykeyId: string): Promise<{ mykeyId: string; grants: GrantRecordView[] }> {
  const mykey = (await mykeyRepository.statuses(db, [mykeyId])).get(mykeyId);
  if (!mykey) throw new Problem('mykey_not_found');
  await recordAudit(db, { action: 'grant_history.viewed', actor: { kind: 'staff', id: String(staff.id) }, subject: mykeyId, details: { ...towns(staff.municipalityCode) } });
  return { mykeyId, grants: (await repo.historyOf(db, staff.municipalityCode, mykey.pk, HISTORY)).map(recordView) };
}
