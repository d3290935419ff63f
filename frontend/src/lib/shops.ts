// Shops (加盟店, docs/shops.md): the public application form's calls, and the municipality
// console's list, review, decisions and bank account. The backend decides; these only ask.
import { SHOP_CATEGORIES, type ApplicationTown, type ShopApplication, type ShopApplicationReceipt, type ShopStatus, type ShopSummary, type ShopView } from '@mykey/contracts/shops.ts';
import type { BankAccount } from '@mykey/contracts/zengin.ts';
import { isRecord, request } from './api.ts';

export type { ApplicationTown, ShopApplication, ShopApplicationReceipt, ShopStatus, ShopSummary, ShopView };
export { SHOP_ADDRESS_MAX, SHOP_CATEGORIES, SHOP_CATEGORY_NAMES, SHOP_EMAIL_MAX, SHOP_NAME_MAX, SHOP_PERSON_MAX, SHOP_PHONE, type ShopCategory } from '@mykey/contracts/shops.ts';

export const SHOP_STATUSES: readonly ShopStatus[] = ['pending', 'approved', 'rejected', 'suspended'];

/** What the administrator does to a shop, by the path the backend takes it at. */
export type ShopDecision = 'approval' | 'rejection' | 'suspension' | 'reinstatement';

const isString = (value: unknown): value is string => typeof value === 'string';
const isStringOrNull = (value: unknown): value is string | null => value === null || isString(value);
const isId = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value > 0;

const isBankAccount = (value: unknown): value is BankAccount => isRecord(value)
  && ['bankCode', 'bankNameKana', 'branchCode', 'branchNameKana', 'accountType', 'accountNumber', 'holderKana'].every((field) => isString(value[field]));

const isSummary = (value: unknown): value is ShopSummary => isRecord(value) && isId(value.id) && isString(value.slug) && isString(value.nameJa) && isString(value.nameEn)
  && SHOP_STATUSES.includes(value.status as ShopStatus) && (value.category === null || SHOP_CATEGORIES.includes(value.category as never)) && isStringOrNull(value.appliedAt);

const isView = (value: unknown): value is ShopView => isSummary(value) && isRecord(value)
  && ['address', 'representative', 'phone', 'email', 'statusReason', 'decidedAt'].every((field) => isStringOrNull(value[field]))
  && (value.bankAccount === null || isBankAccount(value.bankAccount));

const parseTowns = (body: unknown) => (isRecord(body) && Array.isArray(body.towns)
  && body.towns.every((town) => isRecord(town) && isString(town.code) && isString(town.nameJa) && isString(town.nameEn)) ? body.towns as ApplicationTown[] : null);
const parseReceipt = (body: unknown) => (isRecord(body) && isId(body.applicationId) && isRecord(body.municipality) && isBankAccount(body.bankAccount)
  ? body as unknown as ShopApplicationReceipt : null);
const parseShops = (body: unknown) => (isRecord(body) && Array.isArray(body.shops) && body.shops.every(isSummary) ? body.shops : null);
const parseShop = (body: unknown) => (isView(body) ? body : null);

export function applicationTowns(): Promise<ApplicationTown[]> {
  return request('/api/v1/shop-applications/towns', parseTowns);
}

/** `key` is kept across tries of one application, so a retry after a lost answer applies once. */
export function applyAsShop(application: ShopApplication, key: string): Promise<ShopApplicationReceipt> {
  return request('/api/v1/shop-applications', parseReceipt, { method: 'POST', body: application, idempotencyKey: key });
}

export function listShops(status: ShopStatus | null): Promise<ShopSummary[]> {
  return request(`/api/v1/staff/shops${status ? `?status=${status}` : ''}`, parseShops);
}

export function shopDetail(id: number): Promise<ShopView> {
  return request(`/api/v1/staff/shops/${id}`, parseShop);
}

/** A rejection or a suspension carries its reason; an approval or a reinstatement none. */
export function decideShop(id: number, decision: ShopDecision, reason: string | null, key: string): Promise<ShopView> {
  return request(`/api/v1/staff/shops/${id}/${decision}`, parseShop, { method: 'POST', body: reason === null ? {} : { reason }, idempotencyKey: key });
}

export function setShopBankAccount(id: number, account: BankAccount, key: string): Promise<ShopView> {
  return request(`/api/v1/staff/shops/${id}/bank-account`, parseShop, { method: 'PUT', body: account, idempotencyKey: key });
}
