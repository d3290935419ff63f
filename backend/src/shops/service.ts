// A shop's life as the town sees it: it applies through the public form, the town's
// administrator approves or rejects the application, suspends an approved shop with a reason
// and reinstates it, and keeps its bank account right. A suspended shop's registers stop at once
// (servingShop, asked by the register's and the devices' paths). Every change is audited.
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { appendAudit, towns } from '../audit/chain.ts';
import type { Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import { organizationRepository, type Names } from '../organizations/repository.ts';
import type { SignedInStaff } from '../staff/repository.ts';
import type { ApplicationTown, ShopApplication, ShopApplicationReceipt, ShopStatus, ShopSummary, ShopView } from '@mykey/contracts/shops.ts';
import type { BankAccount } from '@mykey/contracts/zengin.ts';
import { shopsRepository as repo } from './repository.ts';

/** What staff do to a shop, and the one status each is allowed from. */
const TRANSITIONS = {
  approve: { from: 'pending', to: 'approved', action: 'shop.approved' },
  reject: { from: 'pending', to: 'rejected', action: 'shop.rejected' },
  suspend: { from: 'approved', to: 'suspended', action: 'shop.suspended' },
  reinstate: { from: 'suspended', to: 'approved', action: 'shop.reinstated' },
} as const satisfies Record<string, { from: ShopStatus; to: ShopStatus; action: string }>;

export type ShopDecision = keyof typeof TRANSITIONS;

const staffActor = (staff: SignedInStaff) => ({ kind: 'staff' as const, id: String(staff.id) });

/** Refuses a shop that may not take payments now: suspended (its own problem, it was serving) or never approved. */
export function servingShop(status: ShopStatus): void {
  if (status === 'suspended') throw new Problem('merchant_suspended');
  if (status !== 'approved') throw new Problem('merchant_not_approved');
}

/** A shop of the town by its names (a staff invitation for its first owner); undefined for none, or another town's. */
export async function shopNamesOfTown(conn: Db | Knex.Transaction, municipalityCode: string, id: number): Promise<Names | undefined> {
  const shop = await repo.ofTown(conn, municipalityCode, id);
  return shop && { ja: shop.nameJa, en: shop.nameEn };
}

/** The towns the public form offers. */
export async function applicationTowns(db: Db): Promise<ApplicationTown[]> {
  return (await organizationRepository.municipalities(db)).map((town) => ({ code: town.code, nameJa: town.names.ja, nameEn: town.names.en }));
}

/** A new application, pending the town's decision; the bank names as the checks normalised them. */
export async function apply(trx: Knex.Transaction, application: ShopApplication, now: Date): Promise<ShopApplicationReceipt> {
  const town = await organizationRepository.municipalityName(trx, application.municipalityCode);
  if (!town) throw new Problem('request_invalid', 'No such municipality.', { errors: [{ path: 'municipalityCode', message: 'no such municipality' }] });
  // The slug is the row's stable key for seeds and imports; an applied shop gets one no one can guess or collide with.
  const slug = `shop-${randomBytes(8).toString('hex')}`;
  const id = await repo.insertApplication(trx, { ...application, slug, appliedAt: now });
  await appendAudit(trx, { action: 'shop.applied', actor: { kind: 'system', id: 'shop-application-form' }, subject: `merchant:${id}`, details: { category: application.category, ...towns(application.municipalityCode) } });
  return { applicationId: id, status: 'pending', municipality: { code: application.municipalityCode, nameJa: town.ja, nameEn: town.en }, bankAccount: application.bankAccount };
}

export function listShops(db: Db, staff: SignedInStaff, status?: ShopStatus): Promise<ShopSummary[]> {
  return repo.listOfTown(db, staff.municipalityCode, status && [status]);
}

/** The staff member's town's shop; another town's is as unknown as none. */
export async function shopOf(conn: Db | Knex.Transaction, staff: SignedInStaff, id: number, options: { lock?: boolean } = {}): Promise<ShopView> {
  const shop = await repo.ofTown(conn, staff.municipalityCode, id, options);
  if (!shop) throw new Problem('shop_not_found');
  return shop;
}

/** Approve, reject, suspend or reinstate: only from the status the decision is for; a reason for a rejection or a suspension. */
export async function decide(trx: Knex.Transaction, staff: SignedInStaff, id: number, decision: ShopDecision, reason: string | null, now: Date): Promise<ShopView> {
  const { from, to, action } = TRANSITIONS[decision];
  const shop = await shopOf(trx, staff, id, { lock: true });
  if (shop.status !== from) throw new Problem('shop_status_conflict', `the shop is ${shop.status}, not ${from}`, { shopStatus: shop.status });
  // The reason stays on the shop while it holds (the console shows why it is suspended); the audit log keeps every one.
  await repo.setStatus(trx, id, to, to === 'approved' ? null : reason, now);
  await appendAudit(trx, { action, actor: staffActor(staff), subject: `merchant:${id}`, details: { from, to, ...towns(staff.municipalityCode) }, ...(reason && { texts: { reason } }) });
  return shopOf(trx, staff, id);
}

/** The account the shop's settlement is paid to; the audit names the fields that changed, never the account. */
export async function setBankAccount(trx: Knex.Transaction, staff: SignedInStaff, id: number, account: BankAccount): Promise<ShopView> {
  const shop = await shopOf(trx, staff, id, { lock: true });
  const changed = (Object.keys(account) as Array<keyof BankAccount>).filter((field) => shop.bankAccount?.[field] !== account[field]).sort();
  if (changed.length === 0) return shop;
  await repo.setBankAccount(trx, id, account);
  await appendAudit(trx, { action: 'shop.bank_account_changed', actor: staffActor(staff), subject: `merchant:${id}`, details: { fields: changed, ...towns(staff.municipalityCode) } });
  return shopOf(trx, staff, id);
}
