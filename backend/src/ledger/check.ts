// `npm run ledger -- check`: every invariant of the ledger, verified against one consistent
// snapshot, each violation named by the entry, account or lot it is about, with the value
// expected and the value found.
import type { Db } from '../db.ts';
import { INVARIANTS, ledgerRepository as repo, type Invariant, type ViolationRow } from './repository.ts';

export interface Violation {
  invariant: Invariant;
  entryId?: number;
  accountId?: number;
  lotId?: number;
  expected: number | string;
  found: number | string;
}

export interface LedgerReport {
  ok: boolean;
  /** Rows in the ledger's tables when the snapshot was taken. */
  checked: Record<string, number>;
  violations: Violation[];
  /** Per invariant, how many violations there were in all, where more than the listing limit. */
  unlisted: Partial<Record<Invariant, number>>;
}

/** Violations listed per invariant; beyond it, only counted (the report stays a readable size). */
const LISTED_PER_INVARIANT = 1_000;

function violation(invariant: Invariant, row: ViolationRow): Violation {
  const value = (v: unknown) => ('text' in INVARIANTS[invariant] ? String(v) : Number(v));
  return {
    invariant,
    ...(row.entry_id == null ? {} : { entryId: Number(row.entry_id) }),
    ...(row.account_id == null ? {} : { accountId: Number(row.account_id) }),
    ...(row.lot_id == null ? {} : { lotId: Number(row.lot_id) }),
    expected: value(row.expected),
    found: value(row.found),
  };
}

/** Checks every invariant in one REPEATABLE READ snapshot, reading only: postings running meanwhile are either wholly seen or not at all. */
export async function checkLedger(db: Db, listed = LISTED_PER_INVARIANT): Promise<LedgerReport> {
  return db.transaction(async (trx) => {
    const report: LedgerReport = { ok: true, checked: await repo.tableSizes(trx), violations: [], unlisted: {} };
    for (const invariant of Object.keys(INVARIANTS) as Invariant[]) {
      const rows = await repo.violations(trx, invariant, listed + 1);
      report.violations.push(...rows.slice(0, listed).map((row) => violation(invariant, row)));
      if (rows.length > listed) report.unlisted[invariant] = await repo.countViolations(trx, invariant);
    }
    report.ok = report.violations.length === 0;
    return report;
  }, { isolationLevel: 'repeatable read' });
}
