// Paying the shops for a closed period: the municipality's details as the payer (set by its
// administrator) and the Zengin transfer file built from what the period pays each shop.
import type { Knex } from 'knex';
import { z } from 'zod';
import { appendAudit } from '../audit/chain.ts';
import type { Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import { shopsRepository } from '../shops/repository.ts';
import type { SignedInStaff } from '../staff/repository.ts';
import { organizationLabel } from '../staff/organization.ts';
import type { Payer } from '@mykey/contracts/settlement-periods.ts';
import { ACCOUNT_NUMBER, BANK_CODE, BRANCH_CODE, zenginText, ZENGIN_NAME_MAX } from '@mykey/contracts/zengin.ts';
import { settlementRepository as repo, type PeriodRow } from './repository.ts';
import { zenginTransferFile } from './zengin.ts';

/** 依頼人名: the header's 40 characters. */
const REQUESTER_NAME_MAX = 40;

// Names as typed (full-width kana too): payerOf makes them Zengin text or refuses them.
export const payerBody = z.object({
  requesterCode: z.string().regex(/^\d{10}$/),
  requesterName: z.string().max(200),
  bankCode: z.string().regex(BANK_CODE),
  bankName: z.string().max(200),
  branchCode: z.string().regex(BRANCH_CODE),
  branchName: z.string().max(200),
  accountType: z.enum(['ordinary', 'current']),
  accountNumber: z.string().regex(ACCOUNT_NUMBER),
}).strict();

/** The payer with its names as Zengin text, or settlement_payer_invalid naming the fields that cannot be written. */
export function payerOf(body: z.infer<typeof payerBody>): Payer {
  const names = {
    requesterName: zenginText(body.requesterName, REQUESTER_NAME_MAX), bankName: zenginText(body.bankName, ZENGIN_NAME_MAX.bank), branchName: zenginText(body.branchName, ZENGIN_NAME_MAX.branch),
  };
  const { requesterName, bankName, branchName } = names;
  if (!requesterName.ok || !bankName.ok || !branchName.ok) {
    const fields = Object.entries(names).flatMap(([field, text]) => (text.ok ? [] : [{ field, reason: text.reason, invalid: text.invalid }]));
    throw new Problem('settlement_payer_invalid', fields.map((f) => `${f.field}: ${f.reason} ${f.invalid.join('')}`.trim()).join('; '), { fields });
  }
  return {
    requesterCode: body.requesterCode, requesterNameKana: requesterName.value, bankCode: body.bankCode, bankNameKana: bankName.value,
    branchCode: body.branchCode, branchNameKana: branchName.value, accountType: body.accountType, accountNumber: body.accountNumber,
  };
}

/** Stores the municipality's payer details, audited, in the caller's transaction. */
export async function setPayer(trx: Knex.Transaction, staff: SignedInStaff, payer: Payer, now: Date): Promise<void> {
  await repo.savePayer(trx, staff.municipalityCode, payer, now);
  await appendAudit(trx, {
    action: 'settlement.payer_set', actor: { kind: 'staff', id: String(staff.id) }, subject: `settlement:municipality:${staff.municipalityCode}`,
    details: { organization: organizationLabel(staff.organization), ...payer },
  });
}

/** The transfer file of a closed period: the shops it pays more than zero, in shop order. */
export async function transferFileOf(db: Db, row: PeriodRow): Promise<Buffer> {
  const payer = await repo.payer(db, row.municipalityCode);
  if (!payer) throw new Problem('settlement_payer_missing');
  const paid = (await repo.payouts(db, row.id)).filter((p) => p.transferPoints > 0);
  const ids = paid.map((p) => p.merchantId);
  const [names, accounts] = await Promise.all([shopsRepository.merchantNames(db, ids), shopsRepository.bankAccounts(db, ids)]);
  return zenginTransferFile(payer, row.payOn, row.id, paid.map((p) => ({ merchant: names.get(p.merchantId)!, points: p.transferPoints, account: accounts.get(p.merchantId) ?? null })));
}
