// `npm run mykey -- municipality add --code 139998 --name-ja … --name-en …`: the operators add a
// town the platform serves, and get a one-time invitation code (staff/invitations.ts) for its
// first administrator, who signs up on the console's invitation page and then invites the
// rest. Run again, it adds nothing twice: the town stays as it is and, while no administrator
// has signed up, a fresh code replaces the earlier one (codes are stored hashed, so an earlier
// code cannot be shown again). Prints one JSON line (../command-line.ts).
import { parseArgs } from 'node:util';
import type { StaffInvitation } from '@mykey/contracts/staff.ts';
import { appendAudit, towns } from '../audit/chain.ts';
import { answer, configuredSecret, fail, withDb } from '../command-line.ts';
import { ConfigError } from '../config.ts';
import type { Db } from '../db.ts';
import { isMunicipalityCode } from '../organizations/municipality-code.ts';
import { organizationRepository, type Names } from '../organizations/repository.ts';
import { issueInvitation } from './invitations.ts';
import type { OrganizationRef } from './organization.ts';
import { staffRepository } from './repository.ts';

export const MUNICIPALITY_USAGE = 'npm run mykey -- municipality add --code CODE --name-ja NAME --name-en NAME [--admin-name NAME]';

const NAME_MAX = 100;

export class MunicipalityRefused extends Error {
  constructor(readonly code: 'municipality_names_differ', message: string) {
    super(message);
  }
}

export interface MunicipalityAdded {
  municipality: { code: string; name: Names };
  /** false: it was there already (a re-run). */
  added: boolean;
  /** null when the town has an administrator already: they invite the rest in the console. */
  invitation: StaffInvitation | null;
}

/** Adds the town (once) and, while it has no administrator, invites its first one; all in one transaction, audited. */
export async function addMunicipality(db: Db, town: { code: string; name: Names; adminName: string }, now: Date): Promise<MunicipalityAdded> {
  return db.transaction(async (trx) => {
    const existing = await organizationRepository.municipalityName(trx, town.code);
    if (existing && (existing.ja !== town.name.ja || existing.en !== town.name.en)) {
      throw new MunicipalityRefused('municipality_names_differ', `${town.code} is ${existing.ja} / ${existing.en} already; nothing changed`);
    }
    const actor = { kind: 'system' as const, id: 'municipality-command' };
    if (!existing) {
      await organizationRepository.insertMunicipality(trx, { code: town.code, name: town.name, now });
      await appendAudit(trx, { action: 'municipality.added', actor, subject: `municipality:${town.code}`, details: towns(town.code) });
    }
    const organization: OrganizationRef = { kind: 'municipality', id: town.code };
    let invitation: StaffInvitation | null = null;
    if (!(await staffRepository.hasEnabledHolder(trx, organization, 'administrator'))) {
      await staffRepository.closeCommandInvitations(trx, organization, now);
      invitation = await issueInvitation(trx, { staffId: null, municipalityCode: town.code }, { organization: { ...organization, name: town.name }, roles: ['administrator'], displayName: town.adminName }, now);
    }
    return { municipality: { code: town.code, name: town.name }, added: !existing, invitation };
  });
}

const commandArgs = (args: string[]) => parseArgs({ args, allowPositionals: true, strict: true,
  options: { code: { type: 'string' }, 'name-ja': { type: 'string' }, 'name-en': { type: 'string' }, 'admin-name': { type: 'string' } } });

export async function municipalityCommand(args: string[], databaseUrl: string, env: NodeJS.ProcessEnv = process.env, now = () => new Date()): Promise<number> {
  const configured = configuredSecret(env);
  if (configured instanceof ConfigError) return fail(2, 'config_invalid', configured.problems.join('; '));
  let parsed: ReturnType<typeof commandArgs>;
  try {
    parsed = commandArgs(args);
  } catch (error) {
    return fail(2, 'usage', `${(error as Error).message}; usage: ${MUNICIPALITY_USAGE}`);
  }
  const { values, positionals } = parsed;
  const [code, ja, en] = [values.code, values['name-ja']?.trim(), values['name-en']?.trim()];
  if (positionals.length !== 1 || positionals[0] !== 'add' || !code || !ja || !en) return fail(2, 'usage', `usage: ${MUNICIPALITY_USAGE}`);
  if (!isMunicipalityCode(code)) return fail(2, 'municipality_code_invalid', `${code} is not a local government code: six digits, the last the check digit of the first five`);
  const adminName = values['admin-name']?.trim() || `${ja} 管理者`;
  if ([ja, en, adminName].some((name) => [...name].length > NAME_MAX)) return fail(2, 'usage', `names are at most ${NAME_MAX} characters`);
  return withDb(databaseUrl, 'municipality', async (db) => {
    try {
      return answer(await addMunicipality(db, { code, name: { ja, en }, adminName }, now()));
    } catch (error) {
      if (!(error instanceof MunicipalityRefused)) throw error;
      return fail(1, error.code, error.message);
    }
  });
}
