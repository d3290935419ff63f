// The bank transfer file that pays the shops: 全銀協規定 総合振込 (docs/settlement.md#the-transfer-file).
// Fixed records of 120 bytes in Shift_JIS, each ended by CRLF: a header (1), a data record
// per shop (2), a trailer with the count and total (8) and an end record (9). The layout is
// written once, below, as data; the writer fills it and nothing else knows a position.
import { ACCOUNT_TYPE_CODE, shiftJis, zenginText, ZENGIN_NAME_MAX, type BankAccount } from '@mykey/contracts/zengin.ts';
import type { Payer } from '@mykey/contracts/settlement-periods.ts';
import type { Named } from '@mykey/contracts/statement-shape.ts';
import { Problem } from '../http/problems.ts';

/** N: digits, right-aligned, zero-filled. C: Zengin text, left-aligned, space-filled. `fixed`: the same in every file. */
export interface ZenginField { name: string; length: number; kind: 'N' | 'C'; fixed?: string }

export const RECORD_BYTES = 120;

const blank = (length: number): ZenginField => ({ name: 'dummy', length, kind: 'C', fixed: '' });

export const ZENGIN_LAYOUT = {
  header: [
    { name: 'recordType', length: 1, kind: 'N', fixed: '1' },
    { name: 'kindCode', length: 2, kind: 'N', fixed: '21' }, // 総合振込
    { name: 'codeSet', length: 1, kind: 'N', fixed: '0' }, // JIS (Shift_JIS in a file)
    { name: 'requesterCode', length: 10, kind: 'N' },
    { name: 'requesterName', length: 40, kind: 'C' },
    { name: 'payDate', length: 4, kind: 'N' }, // MMDD
    { name: 'bankCode', length: 4, kind: 'N' },
    { name: 'bankName', length: 15, kind: 'C' },
    { name: 'branchCode', length: 3, kind: 'N' },
    { name: 'branchName', length: 15, kind: 'C' },
    { name: 'accountType', length: 1, kind: 'N' },
    { name: 'accountNumber', length: 7, kind: 'N' },
    blank(17),
  ],
  data: [
    { name: 'recordType', length: 1, kind: 'N', fixed: '2' },
    { name: 'bankCode', length: 4, kind: 'N' },
    { name: 'bankName', length: 15, kind: 'C' },
    { name: 'branchCode', length: 3, kind: 'N' },
    { name: 'branchName', length: 15, kind: 'C' },
    { name: 'clearingHouse', length: 4, kind: 'N', fixed: '0' }, // 手形交換所番号: unused
    { name: 'accountType', length: 1, kind: 'N' },
    { name: 'accountNumber', length: 7, kind: 'N' },
    { name: 'holderName', length: 30, kind: 'C' },
    { name: 'amount', length: 10, kind: 'N' },
    { name: 'newCode', length: 1, kind: 'N', fixed: '0' },
    { name: 'customerCode1', length: 10, kind: 'N' }, // the shop's id
    { name: 'customerCode2', length: 10, kind: 'N' }, // the settlement period's id
    { name: 'transferKind', length: 1, kind: 'N', fixed: '7' }, // 電信扱
    { name: 'identification', length: 1, kind: 'C', fixed: '' },
    blank(7),
  ],
  trailer: [
    { name: 'recordType', length: 1, kind: 'N', fixed: '8' },
    { name: 'count', length: 6, kind: 'N' },
    { name: 'total', length: 12, kind: 'N' },
    blank(101),
  ],
  end: [
    { name: 'recordType', length: 1, kind: 'N', fixed: '9' },
    blank(119),
  ],
} as const satisfies Record<string, readonly ZenginField[]>;

type Values = Record<string, string | number>;

/** One record's 120 bytes; a value that does not fit is a bug of the caller, who checked it. */
function record(fields: readonly ZenginField[], values: Values): Buffer {
  const text = fields.map((field) => {
    const value = String(field.fixed ?? values[field.name] ?? '');
    if (value.length > field.length) throw new Error(`zengin: ${field.name} "${value}" is longer than ${field.length}`);
    if (field.kind === 'N' && !/^\d*$/.test(value)) throw new Error(`zengin: ${field.name} "${value}" is not digits`);
    return field.kind === 'N' ? value.padStart(field.length, '0') : value.padEnd(field.length, ' ');
  }).join('');
  const bytes = Buffer.from(shiftJis(text));
  if (bytes.length !== RECORD_BYTES) throw new Error(`zengin: a record of ${bytes.length} bytes`);
  return bytes;
}

/** A shop the file pays: who, how much, where. */
export interface Transfer { merchant: Named; points: number; account: BankAccount | null }

/** Why a shop cannot be paid by the file: no account, or names of it that cannot be written (and why: zenginText's reason). */
export interface Unwritable {
  id: number; name: Named['name']; reason: 'no_bank_account' | 'name_not_writable';
  fields: Array<{ field: 'bank' | 'branch' | 'holder'; reason: string; invalid: string[] }>;
}

/** The account's names as Zengin text, or the fields that cannot be written. */
function payeeNames(account: BankAccount): { bankName: string; branchName: string; holderName: string } | Unwritable['fields'] {
  const bank = zenginText(account.bankNameKana, ZENGIN_NAME_MAX.bank);
  const branch = zenginText(account.branchNameKana, ZENGIN_NAME_MAX.branch);
  const holder = zenginText(account.holderKana, ZENGIN_NAME_MAX.holder);
  if (bank.ok && branch.ok && holder.ok) return { bankName: bank.value, branchName: branch.value, holderName: holder.value };
  return ([['bank', bank], ['branch', branch], ['holder', holder]] as const)
    .flatMap(([field, text]) => (text.ok ? [] : [{ field, reason: text.reason, invalid: text.invalid }]));
}

/** MMDD of a YYYY-MM-DD date. */
const monthDay = (date: string) => date.slice(5, 7) + date.slice(8, 10);

/**
 * The transfer file for the period `periodId` paying `transfers` on `payOn`, or the problem
 * naming every shop it cannot pay (settlement_transfer_unwritable, with `shops`).
 */
export function zenginTransferFile(payer: Payer, payOn: string, periodId: number, transfers: Transfer[]): Buffer {
  const unwritable: Unwritable[] = [];
  const data: Buffer[] = [];
  for (const { merchant, points, account } of transfers) {
    const names = account ? payeeNames(account) : [];
    if (!account || Array.isArray(names)) {
      unwritable.push({ id: merchant.id, name: merchant.name, reason: account ? 'name_not_writable' : 'no_bank_account', fields: Array.isArray(names) ? names : [] });
      continue;
    }
    data.push(record(ZENGIN_LAYOUT.data, {
      ...names, bankCode: account.bankCode, branchCode: account.branchCode, accountType: ACCOUNT_TYPE_CODE[account.accountType],
      accountNumber: account.accountNumber, amount: points, customerCode1: merchant.id, customerCode2: periodId,
    }));
  }
  if (unwritable.length > 0) {
    const named = unwritable.map((u) => `${u.name.ja} (${u.id}): ${u.reason === 'no_bank_account' ? 'no bank account' : u.fields.map((f) => `${f.field} ${f.reason} ${f.invalid.join('')}`.trim()).join(', ')}`);
    throw new Problem('settlement_transfer_unwritable', `cannot pay ${named.join('; ')}`, { shops: unwritable });
  }
  const header = record(ZENGIN_LAYOUT.header, {
    requesterCode: payer.requesterCode, requesterName: payer.requesterNameKana, payDate: monthDay(payOn), bankCode: payer.bankCode, bankName: payer.bankNameKana,
    branchCode: payer.branchCode, branchName: payer.branchNameKana, accountType: ACCOUNT_TYPE_CODE[payer.accountType], accountNumber: payer.accountNumber,
  });
  const trailer = record(ZENGIN_LAYOUT.trailer, { count: transfers.length, total: transfers.reduce((sum, t) => sum + t.points, 0) });
  const crlf = Buffer.from('\r\n');
  return Buffer.concat([header, ...data, trailer, record(ZENGIN_LAYOUT.end, {})].flatMap((r) => [r, crlf]));
}
