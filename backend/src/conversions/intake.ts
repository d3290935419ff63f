// Taking in partner conversions (docs/partner-api.md): one code path for a single request and
// for each line of a batch file. A conversion is checked in two steps — its shape alone (pure),
// then against the database for the ones that are new — and stored once per
// (partner, partnerTxId): the same partnerTxId with the same content is the same conversion,
// with other content a conflict. Rows are committed here; enqueueing comes after the commit.
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { z } from 'zod';
import { retryTransient, type Db } from '../db.ts';
import { parseJson } from '../http/body.ts';
import { Problem, problemKinds, type Messages, type ProblemCode } from '../http/problems.ts';
import { LIMITS } from '../ledger/entries.ts';
import { parseMykeyId } from '../mykey/id.ts';
import { mykeyRepository } from '../mykey/repository.ts';
import { organizationRepository } from '../organizations/repository.ts';
import { partnerRepository, type PartnerCredentials } from '../partners/repository.ts';
import { addConversionJobs, type ConversionJob } from './queue.ts';
import { conversionRepository as repo, type Conversion, type QueuedConversion, type StoredConversion } from './repository.ts';
import type { Queue } from '../queue.ts';
import type { Logger } from '../log.ts';

const PARTNER_TX_ID = /^[A-Za-z0-9_.:-]{1,64}$/;
/** The most municipal points one conversion may give: the ledger's limit per operation. */
const MAX_CONVERSION_POINTS = LIMITS.maxResidentPoints;

/** A conversion request's body; the API's document shows it (partner-routes.ts). */
export const conversionSchema = z.object({
  partnerTxId: z.string().regex(PARTNER_TX_ID, { error: 'must be 1-64 characters of A-Z a-z 0-9 _ . : -' }),
  mykeyId: z.string().max(64),
  municipality: z.string().regex(/^[0-9]{6}$/, { error: 'must be a 6-digit local-government code' }),
  // Any whole number the JSON can carry exactly; what is absurd depends on the partner's rate.
  partnerPoints: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
}).strict();

export interface ConversionInput { partnerTxId: string; mykeyId: string; municipality: string; partnerPoints: number }

/** A conversion whose shape is right, or why not (with its partnerTxId when that much was readable). */
export type Checked =
  | { ok: true; input: ConversionInput; requestHash: Buffer }
  | { ok: false; problem: Problem; partnerTxId: string | null };

/**
 * An item's answer. `stored` marks a conversion this call inserted (or a twin committed
 * meanwhile): its job is the caller's to add; a replay's job was added when it was stored.
 */
export type Outcome = { ok: true; conversion: Conversion; stored: boolean } | { ok: false; problem: Problem; partnerTxId: string | null };

/** A conversion request's JSON text, checked for shape; no database. */
export function checkConversion(text: string): Checked {
  let parsed: z.infer<typeof conversionSchema>;
  try {
    parsed = parseJson(text, conversionSchema);
  } catch (error) {
    if (!(error instanceof Problem)) throw error;
    return { ok: false, problem: error, partnerTxId: readableTxId(text) };
  }
  const mykey = parseMykeyId(parsed.mykeyId);
  if (!mykey.ok) return { ok: false, problem: new Problem(mykey.code, `mykeyId: ${mykey.detail}`), partnerTxId: parsed.partnerTxId };
  const input = { partnerTxId: parsed.partnerTxId, mykeyId: mykey.id, municipality: parsed.municipality, partnerPoints: parsed.partnerPoints };
  return { ok: true, input, requestHash: requestHash(input) };
}

/** The partnerTxId of a refused body, if it has a usable one, so the partner can match the refusal. */
function readableTxId(text: string): string | null {
  try {
    const value = (JSON.parse(text) as { partnerTxId?: unknown })?.partnerTxId;
    return typeof value === 'string' && PARTNER_TX_ID.test(value) ? value : null;
  } catch {
    return null;
  }
}

/** What "the same body" means: the fields, with the MyKey ID in its canonical spelling. */
function requestHash(input: ConversionInput): Buffer {
  return createHash('sha256').update(JSON.stringify([input.partnerTxId, input.mykeyId, input.municipality, input.partnerPoints])).digest();
}

/** Municipal points for `partnerPoints` at the partner's rate, rounded down (exact: BigInt). */
function convertedPoints(partner: Pick<PartnerCredentials, 'rateUnits' | 'ratePoints'>, partnerPoints: number): number {
  const points = (BigInt(partnerPoints) * BigInt(partner.ratePoints)) / BigInt(partner.rateUnits);
  return points > BigInt(MAX_CONVERSION_POINTS) ? Infinity : Number(points);
}

/** Why these partner points cannot be converted at this rate, if they cannot. */
function amountProblem(partner: Pick<PartnerCredentials, 'rateUnits' | 'ratePoints'>, partnerPoints: number): Problem | undefined {
  const points = convertedPoints(partner, partnerPoints);
  if (points < 1) {
    return new Problem('conversion_below_minimum', `${partnerPoints} at ${partner.ratePoints} points per ${partner.rateUnits} comes to 0 points.`,
      { minimumPartnerPoints: Math.ceil(partner.rateUnits / partner.ratePoints) });
  }
  if (points > MAX_CONVERSION_POINTS) {
    // The largest p with floor(p × ratePoints / rateUnits) ≤ the limit.
    const maximum = (BigInt(MAX_CONVERSION_POINTS + 1) * BigInt(partner.rateUnits) - 1n) / BigInt(partner.ratePoints);
    return new Problem('points_out_of_range', `One conversion may give at most ${MAX_CONVERSION_POINTS} points.`,
      { maximumPoints: MAX_CONVERSION_POINTS, maximumPartnerPoints: Number(maximum) });
  }
  return undefined;
}

/** One partner's conversion by its partnerTxId: another partner's is never found. */
export async function findConversion(db: Db, partnerId: number, partnerTxId: string): Promise<Conversion | undefined> {
  if (!PARTNER_TX_ID.test(partnerTxId)) return undefined;
  return (await repo.byTxIds(db, partnerId, [partnerTxId])).get(partnerTxId)?.conversion;
}

/**
 * Refusals that depend on the database, for the new conversions: the municipality and the
 * partner's agreement with it first (a partner learns nothing of MyKey IDs where it has no
 * agreement), then the MyKey ID.
 */
async function databaseProblems(trx: Knex.Transaction, partnerId: number, inputs: ConversionInput[], now: Date): Promise<{ problems: Map<ConversionInput, Problem>; mykeyPks: Map<string, number> }> {
  const problems = new Map<ConversionInput, Problem>();
  const mykeyPks = new Map<string, number>();
  if (inputs.length === 0) return { problems, mykeyPks };
  const codes = [...new Set(inputs.map((i) => i.municipality))];
  const [mykeys, known, agreed] = await Promise.all([
    mykeyRepository.statuses(trx, inputs.map((i) => i.mykeyId)),
    organizationRepository.existingMunicipalities(trx, codes),
    partnerRepository.municipalitiesInForce(trx, partnerId, codes, now),
  ]);
  for (const [mykeyId, { pk }] of mykeys) mykeyPks.set(mykeyId, pk);
  for (const input of inputs) {
    const mykey = mykeys.get(input.mykeyId)?.status;
    if (!known.has(input.municipality)) problems.set(input, new Problem('municipality_not_found', `No municipality ${input.municipality}.`));
    else if (!agreed.has(input.municipality)) problems.set(input, new Problem('partner_agreement_missing', `No agreement with municipality ${input.municipality} is in force.`));
    else if (mykey === undefined) problems.set(input, new Problem('mykey_not_found', `No MyKey ID ${input.mykeyId}.`));
    else if (mykey !== 'active') problems.set(input, new Problem('mykey_suspended', `MyKey ID ${input.mykeyId} is suspended.`));
  }
  return { problems, mykeyPks };
}

export interface AcceptOptions {
  now: Date;
  /** Lines of a batch file, one per item: stored on the new rows and given to `record`. */
  batch?: { id: number; lines: number[] };
  /** Runs in the same transaction with the outcomes, so they commit together (a batch's line results). */
  record?: (trx: Knex.Transaction, outcomes: Outcome[]) => Promise<void>;
}

/** What taking in needs of the partner: who it is and its rate (not its secret: the request was checked before). */
export type ConvertingPartner = Pick<PartnerCredentials, 'id' | 'rateUnits' | 'ratePoints'>;

/**
 * Stores the new conversions among `items` in one transaction and answers each item: its
 * conversion (new or the one stored before under its partnerTxId) or why it was refused.
 * A replay is answered from the stored row before anything else is checked, so a retry gets
 * its first answer even if, say, the MyKey ID was suspended since. Concurrent twins meet at
 * the unique key (partner_id, partner_tx_id): the insert leaves the first one in place and
 * both read it back. A replay is counted on its row before it is answered: that write makes
 * the answer wait until the row is on disk (docs/architecture.md#a-replay-is-answered-only-once-durable).
 */
export function acceptConversions(db: Db, partner: ConvertingPartner, items: Checked[], options: AcceptOptions): Promise<Outcome[]> {
  return retryTransient(() => db.transaction(async (trx) => {
    const valid = items.flatMap((item) => (item.ok ? [item] : []));
    const stored: Map<string, StoredConversion> = await repo.byTxIds(trx, partner.id, [...new Set(valid.map((item) => item.input.partnerTxId))]);
    const replayed = new Set(stored.keys());
    await repo.countReplays(trx, [...stored.values()].map((row) => row.conversion.id));
    const fresh = valid.filter((item) => !stored.has(item.input.partnerTxId));
    const { problems, mykeyPks } = await databaseProblems(trx, partner.id, fresh.map((item) => item.input), options.now);
    for (const item of fresh) {
      const problem = problems.get(item.input) ?? amountProblem(partner, item.input.partnerPoints);
      if (problem) problems.set(item.input, problem);
    }
    const lineOf = new Map(items.map((item, index) => [item, options.batch?.lines[index]]));
    const rows = fresh.filter((item) => !problems.has(item.input)).map((item) => ({
      partnerId: partner.id, partnerTxId: item.input.partnerTxId, requestHash: item.requestHash,
      municipalityCode: item.input.municipality, mykeyPk: mykeyPks.get(item.input.mykeyId)!,
      partnerPoints: item.input.partnerPoints, points: convertedPoints(partner, item.input.partnerPoints),
      batchId: options.batch?.id ?? null, batchLine: lineOf.get(item) ?? null, acceptedAt: options.now,
    }));
    if (rows.length > 0) {
      await repo.insertRequests(trx, rows);
      for (const [txId, row] of await repo.byTxIds(trx, partner.id, [...new Set(rows.map((r) => r.partnerTxId))])) stored.set(txId, row);
    }
    const outcomes = items.map((item): Outcome => {
      if (!item.ok) return item;
      const problem = problems.get(item.input);
      if (problem) return { ok: false, partnerTxId: item.input.partnerTxId, problem };
      const row = stored.get(item.input.partnerTxId);
      if (!row) throw new Error(`conversion ${item.input.partnerTxId} neither stored nor refused`);
      if (row.requestHash.equals(item.requestHash)) return { ok: true, conversion: row.conversion, stored: !replayed.has(item.input.partnerTxId) };
      return { ok: false, partnerTxId: item.input.partnerTxId, problem: new Problem('conversion_conflict',
        'This partnerTxId is stored with other content.', { conversionId: String(row.conversion.id) }) };
    });
    await options.record?.(trx, outcomes);
    return outcomes;
  }, { isolationLevel: 'read committed' }));
}

/**
 * Adds the jobs of the conversions just stored (stamped as queued as they were inserted): a
 * batch's lines (`batch`, one line per outcome) share their chunk's job. Waits at most
 * `waitMs`: with Redis down the partner is still answered, and the sweeper enqueues the
 * accepted rows whose job is missing. Resolves whether the jobs were added in time.
 */
export async function enqueueAccepted(queue: Queue<ConversionJob>, outcomes: Outcome[], log: Logger, waitMs = 1_000, batch?: AcceptOptions['batch']): Promise<boolean> {
  const stored = new Map<number, QueuedConversion>();
  outcomes.forEach((o, index) => {
    if (o.ok && o.stored && o.conversion.state === 'accepted') stored.set(o.conversion.id, { id: o.conversion.id, batch: batch && { id: batch.id, line: batch.lines[index]! } });
  });
  if (stored.size === 0) return true;
  const added = addConversionJobs(queue, [...stored.values()]).then(() => true, (error: unknown) => {
    log.warn({ err: error, conversions: stored.size }, 'conversions not enqueued; the sweeper will');
    return false;
  });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), waitMs); });
  try {
    return await Promise.race([added, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A conversion as the partner sees it (the answer to POST and GET). */
export function conversionAnswer(conversion: Conversion) {
  const rejectMessage: Messages | undefined = conversion.rejectCode && Object.hasOwn(problemKinds, conversion.rejectCode)
    ? problemKinds[conversion.rejectCode as ProblemCode].messages : undefined;
  return {
    conversionId: String(conversion.id),
    partnerTxId: conversion.partnerTxId,
    state: conversion.state,
    partnerPoints: conversion.partnerPoints,
    points: conversion.points,
    basePoints: conversion.basePoints,
    premiumPoints: conversion.premiumPoints,
    rejectCode: conversion.rejectCode,
    ...(rejectMessage ? { rejectMessage } : {}),
    rejectDetail: conversion.rejectDetail,
    acceptedAt: conversion.acceptedAt.toISOString(),
    finishedAt: conversion.finishedAt?.toISOString() ?? null,
  };
}
