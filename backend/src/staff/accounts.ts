// What an organization's administrator (a shop's owner) does to its staff accounts: change their
// roles, disable and enable them, reset a lost second factor. Each runs in the caller's
// transaction with every account of the organization locked, so the last administrator (owner)
// cannot be removed by two changes at once, and each is audited.
import type { Knex } from 'knex';
import { KEEPER_ROLE, type StaffAccountSummary, type StaffRole } from '@mykey/contracts/staff.ts';
import { appendAudit, towns } from '../audit/chain.ts';
import { Problem } from '../http/problems.ts';
import { rolesFor } from './invitations.ts';
import { organizationLabel } from './organization.ts';
import { staffRepository as repo, type SignedInStaff } from './repository.ts';

type Locked = Awaited<ReturnType<typeof repo.lockAccounts>>[number];

/** The organization's accounts locked, and the one with `id` among them (another organization's is not found). */
async function lockTarget(trx: Knex.Transaction, actor: SignedInStaff, id: number): Promise<{ all: Locked[]; target: Locked }> {
  const all = await repo.lockAccounts(trx, actor.organization);
  const target = all.find((account) => account.id === id);
  if (!target) throw new Problem('staff_account_not_found');
  return { all, target };
}

/** Refuses a change that would leave the organization without an enabled administrator (owner). */
function keepOneKeeper(actor: SignedInStaff, all: Locked[], target: Locked, after: { roles: StaffRole[]; disabled: boolean }): void {
  const keeper = KEEPER_ROLE[actor.organization.kind];
  const holds = (account: { roles: StaffRole[]; disabled: boolean }) => !account.disabled && account.roles.includes(keeper);
  if (!holds(target) || holds(after)) return;
  if (!all.some((account) => account.id !== target.id && holds(account))) throw new Problem('staff_last_administrator');
}

async function audit(trx: Knex.Transaction, actor: SignedInStaff, action: string, id: number, details: Record<string, unknown> = {}): Promise<void> {
  await appendAudit(trx, {
    action, actor: { kind: 'staff', id: String(actor.id) }, subject: `staff:${id}`,
    details: { organization: organizationLabel(actor.organization), ...details, ...towns(actor.municipalityCode) },
  });
}

async function summary(trx: Knex.Transaction, actor: SignedInStaff, id: number): Promise<StaffAccountSummary> {
  return (await repo.accounts(trx, actor.organization)).find((account) => account.id === id)!;
}

export async function changeRoles(trx: Knex.Transaction, actor: SignedInStaff, id: number, roles: StaffRole[]): Promise<StaffAccountSummary> {
  const { all, target } = await lockTarget(trx, actor, id);
  const next = rolesFor(actor.organization, roles);
  keepOneKeeper(actor, all, target, { roles: next, disabled: target.disabled });
  if (next.join() !== target.roles.join()) {
    await repo.setRoles(trx, id, next);
    // What a session may do is read from the account on every request: the change counts at once.
    await audit(trx, actor, 'staff.roles_changed', id, { from: target.roles, to: next });
  }
  return summary(trx, actor, id);
}

/** Disabling ends every session of the account at once; enabling lets it sign in again. Either, twice, changes nothing more. */
export async function setDisabled(trx: Knex.Transaction, actor: SignedInStaff, id: number, disabled: boolean, now: Date): Promise<StaffAccountSummary> {
  const { all, target } = await lockTarget(trx, actor, id);
  if (target.disabled !== disabled) {
    keepOneKeeper(actor, all, target, { roles: target.roles, disabled });
    await repo.setDisabled(trx, id, disabled ? now : null);
    const sessions = disabled ? await repo.deleteSessionsOf(trx, id) : 0;
    await audit(trx, actor, disabled ? 'staff.disabled' : 'staff.enabled', id, disabled ? { sessions } : {});
  }
  return summary(trx, actor, id);
}

/** A lost phone: the second factor and recovery codes are cleared and the sessions end; a municipal account enrols again at its next sign-in. */
export async function resetSecondFactor(trx: Knex.Transaction, actor: SignedInStaff, id: number): Promise<StaffAccountSummary> {
  await lockTarget(trx, actor, id);
  await repo.clearSecondFactor(trx, id);
  const sessions = await repo.deleteSessionsOf(trx, id);
  await audit(trx, actor, 'staff.second_factor_reset', id, { sessions });
  return summary(trx, actor, id);
}
