// The operators' partner commands (docs/partner-api.md):
//   `npm run mykey -- partner-add --slug S --name-ja N --name-en N --kind K --rate UNITS:POINTS`
//   adds a partner company; it credits nothing until it has a secret and an agreement.
//   `npm run mykey -- partner-secret PARTNER [--webhook-url URL]` issues a partner a new API
//   secret (the old one stops working at once) and prints it once, as JSON, to hand over.
//   `npm run mykey -- partner-agreement add|end|list …` keeps the agreements that let a partner
//   credit a municipality's points.
// Both print one JSON line on stdout: the answer, or {error, detail} with exit 1 (refused) or 2 (usage).
import { parseArgs } from 'node:util';
import { answer, configuredSecret, fail, withDb } from '../command-line.ts';
import { ConfigError } from '../config.ts';
import { isDate, tokyoDate } from '../ledger/rules.ts';
import { addAgreement, AgreementRefused, endAgreement } from './agreements.ts';
import { newPartnerSecret } from './credentials.ts';
import { partnerRepository } from './repository.ts';
import { PARTNER_KINDS, PARTNER_SLUG } from './repository.ts';
import { addPartner, PartnerExists, PartnerNotFound, setPartnerCredentials } from './service.ts';
import { plainHttpWebhooksAllowed, webhookUrlProblem } from './webhook-url.ts';

const ADD_USAGE = `npm run mykey -- partner-add --slug SLUG --name-ja NAME --name-en NAME --kind ${PARTNER_KINDS.join('|')} --rate UNITS:POINTS`;
const SECRET_USAGE = 'npm run mykey -- partner-secret PARTNER [--webhook-url URL]';
const AGREEMENT_USAGE = 'npm run mykey -- partner-agreement add PARTNER MUNICIPALITY [--from YYYY-MM-DD] [--until YYYY-MM-DD] | end PARTNER MUNICIPALITY | list [--partner PARTNER] [--municipality CODE]';

export async function partnerSecretCommand(args: string[], databaseUrl: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [partner, flag, url, ...rest] = args;
  if (!partner || partner.startsWith('-') || rest.length > 0 || (flag !== undefined && flag !== '--webhook-url')) {
    return fail(2, 'usage', `usage: ${SECRET_USAGE}`);
  }
  if (flag !== undefined) {
    if (url === undefined) return fail(2, 'usage', '--webhook-url needs an https URL');
    // The raw NODE_ENV: unset is production, so plain http needs NODE_ENV=development said out loud.
    const refused = webhookUrlProblem(url, plainHttpWebhooksAllowed(env.NODE_ENV));
    if (refused) return fail(2, 'webhook_url_refused', refused);
  }
  const secret = configuredSecret(env);
  if (secret instanceof ConfigError) return fail(2, 'config_invalid', secret.problems.join('; '));
  return withDb(databaseUrl, 'partner-secret', async (db) => {
    try {
      const apiSecret = newPartnerSecret();
      const webhook = flag === undefined ? undefined : new URL(url!).toString();
      const { webhookUrl: stored } = await setPartnerCredentials(db, secret, partner, { apiSecret, webhookUrl: webhook });
      return answer({ partner, apiSecret, webhookUrl: stored });
    } catch (error) {
      if (!(error instanceof PartnerNotFound)) throw error;
      return fail(1, 'partner_not_found', error.message);
    }
  });
}

const addArgs = (args: string[]) => parseArgs({ args, strict: true, options: {
  slug: { type: 'string' }, 'name-ja': { type: 'string' }, 'name-en': { type: 'string' }, kind: { type: 'string' }, rate: { type: 'string' } } });

/** A count of points the rate columns hold (unsigned INT), written as digits. */
const RATE = /^([1-9][0-9]{0,8}):([1-9][0-9]{0,8})$/;

export async function partnerAddCommand(args: string[], databaseUrl: string, env: NodeJS.ProcessEnv = process.env, now = () => new Date()): Promise<number> {
  let values: ReturnType<typeof addArgs>['values'];
  try {
    ({ values } = addArgs(args));
  } catch (error) {
    return fail(2, 'usage', `${(error as Error).message}; usage: ${ADD_USAGE}`);
  }
  const { slug, 'name-ja': nameJa, 'name-en': nameEn, kind, rate } = values;
  if (!slug || !nameJa || !nameEn || !kind || !rate) return fail(2, 'usage', `usage: ${ADD_USAGE}`);
  if (!PARTNER_SLUG.test(slug)) return fail(2, 'usage', '--slug is 1-64 characters of A-Z a-z 0-9 _ -');
  if ([nameJa, nameEn].some((name) => name.trim() === '' || name.length > 100)) return fail(2, 'usage', 'a name is 1-100 characters');
  const kindOf = PARTNER_KINDS.find((k) => k === kind);
  if (!kindOf) return fail(2, 'usage', `--kind is one of ${PARTNER_KINDS.join(', ')}`);
  const [, units, points] = RATE.exec(rate) ?? [];
  if (!units || !points) return fail(2, 'usage', '--rate is UNITS:POINTS, two whole numbers above 0: POINTS municipal points for UNITS of the partner\'s');
  // The audit log's keys come from the platform's secret.
  const configured = configuredSecret(env);
  if (configured instanceof ConfigError) return fail(2, 'config_invalid', configured.problems.join('; '));
  return withDb(databaseUrl, 'partner-add', async (db) => {
    try {
      return answer(await addPartner(db, { slug, nameJa: nameJa.trim(), nameEn: nameEn.trim(), kind: kindOf, rateUnits: Number(units), ratePoints: Number(points), createdAt: now() }));
    } catch (error) {
      if (!(error instanceof PartnerExists)) throw error;
      return fail(1, 'partner_exists', error.message);
    }
  });
}

const agreementArgs = (args: string[]) => parseArgs({ args, allowPositionals: true, strict: true,
  options: { from: { type: 'string' }, until: { type: 'string' }, partner: { type: 'string' }, municipality: { type: 'string' } } });

export async function partnerAgreementCommand(args: string[], databaseUrl: string, env: NodeJS.ProcessEnv = process.env, now = () => new Date()): Promise<number> {
  const configured = configuredSecret(env);
  if (configured instanceof ConfigError) return fail(2, 'config_invalid', configured.problems.join('; '));
  let parsed: ReturnType<typeof agreementArgs>;
  try {
    parsed = agreementArgs(args.slice(1));
  } catch (error) {
    return fail(2, 'usage', `${(error as Error).message}; usage: ${AGREEMENT_USAGE}`);
  }
  const { values, positionals } = parsed;
  const sub = args[0];
  const pair = positionals.length === 2 && !values.partner && !values.municipality ? { partner: positionals[0]!, municipality: positionals[1]! } : undefined;
  const usage = () => fail(2, 'usage', `usage: ${AGREEMENT_USAGE}`);
  try {
    if (sub === 'add') {
      if (!pair) return usage();
      const startsOn = values.from ?? tokyoDate(now());
      for (const date of [startsOn, values.until].filter((d) => d !== undefined)) {
        if (!isDate(date)) return fail(2, 'usage', `${date} is not a date (YYYY-MM-DD)`);
      }
      if (values.until !== undefined && values.until < startsOn) return fail(2, 'usage', '--until is before --from');
      return await withDb(databaseUrl, 'partner-agreement', async (db) =>
        answer(await addAgreement(db, { ...pair, startsOn, endsOn: values.until ?? null, now: now() })));
    }
    if (sub === 'end') {
      if (!pair || values.from || values.until) return usage();
      return await withDb(databaseUrl, 'partner-agreement', async (db) => answer(await endAgreement(db, { ...pair, now: now() })));
    }
    if (sub === 'list') {
      if (positionals.length > 0 || values.from || values.until) return usage();
      return await withDb(databaseUrl, 'partner-agreement', async (db) =>
        answer({ agreements: await partnerRepository.agreements(db, { partner: values.partner, municipality: values.municipality }) }));
    }
    return usage();
  } catch (error) {
    if (!(error instanceof AgreementRefused)) throw error;
    return fail(1, error.code, error.message);
  }
}
