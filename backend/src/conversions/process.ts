// Processing accepted partner conversions (docs/partner-api.md#outcomes-and-webhooks). One
// transaction locks the requests, credits the ledger and moves each request to credited or
// rejected, so a job run twice — or two jobs for the same request — credits once. Several
// requests share a transaction when they arrive together (creditConversions): a partner's
// clearing account and a campaign's budget are hot rows every conversion locks, and a few
// statements and one commit for many conversions is what lets their rate pass that of single
// transactions.
import type { Knex } from 'knex';
import pLimit from 'p-limit';
import type { Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import type { Logger } from '../log.ts';
import { LIMITS } from '../ledger/entries.ts';
import { creditConversions, inLedgerTransaction } from '../ledger/ledger.ts';
import { campaignsRepository } from '../campaigns/repository.ts';
import { tokyoDate } from '../ledger/rules.ts';
import { mykeyRepository } from '../mykey/repository.ts';
import { partnerRepository, type PartnerState } from '../partners/repository.ts';
import { conversionRepository as repo, type LockedRequest, type RejectedOutcome } from './repository.ts';

type Trx = Knex.Transaction;

/** The ledger reference of a conversion's credit: one entry per request, ever (the fault tests look them up). */
export const conversionReference = (id: number) => `conversion:${id}`;

// Exported for the tests too: they process requests directly, without a worker's batcher.
/**
 * Processes these requests (those still accepted; the others are left as they are) in one
 * transaction. When the ledger refuses one of them, the transaction is rolled back and each is
 * processed alone, so the refused one ends rejected and the others credited. Answers, per id,
 * the error that left it unprocessed (a passing one: the request is still accepted).
 */
export async function processConversions(db: Db, ids: number[], now = new Date()): Promise<Map<number, unknown>> {
  const failed = new Map<number, unknown>();
  try {
    await inLedgerTransaction(db, (trx) => processLocked(trx, ids, now));
  } catch (error) {
    if (!(error instanceof Problem)) {
      for (const id of ids) failed.set(id, error);
    } else if (ids.length === 1) {
      // The refusal depends on nothing that changes: taking the request again would be refused again.
      await inLedgerTransaction(db, (trx) => rejectAlone(trx, ids[0]!, { code: error.code, detail: error.detail ?? error.message }, now))
        .catch((error) => failed.set(ids[0]!, error));
    } else {
      for (const id of ids) for (const [one, error] of await processConversions(db, [id], now)) failed.set(one, error);
    }
  }
  return failed;
}

/** The requests' refusal by eligibility, before the ledger is asked: a suspended MyKey ID or partner, points past the ledger's limit. */
function refusal(request: LockedRequest, resident: { mykeyId: string; status: string }, partner: PartnerState): RejectedOutcome | undefined {
  if (resident.status !== 'active') return { code: 'mykey_suspended', detail: `MyKey ID ${resident.mykeyId} is suspended` };
  if (!partner.active) return { code: 'partner_suspended', detail: `partner ${request.partnerId} is suspended` };
  if (request.points > LIMITS.maxResidentPoints) {
    return { code: 'points_out_of_range', detail: `${request.points} points is more than ${LIMITS.maxResidentPoints} in one conversion` };
  }
  return undefined;
}

async function processLocked(trx: Trx, ids: number[], now: Date): Promise<void> {
  const requests = (await repo.lockRequests(trx, ids)).filter((request) => request.state === 'accepted');
  if (requests.length === 0) return;
  // Read in the transaction, after the requests' locks.
  const residents = await mykeyRepository.byPks(trx, requests.map((r) => r.mykeyPk));
  const partners = await partnerRepository.states(trx, requests.map((r) => r.partnerId));
  const campaigns = await premiumCampaigns(trx, requests, now);
  const eligible: LockedRequest[] = [];
  for (const request of requests) {
    const partner = partners.get(request.partnerId)!;
    const refused = refusal(request, residents.get(request.mykeyPk)!, partner);
    if (refused) await repo.markRejected(trx, request.id, refused, Boolean(partner.webhookUrl), now);
    else eligible.push(request);
  }
  if (eligible.length === 0) return;
  const credited = await creditConversions(trx, eligible.map((request) => ({
    reference: conversionReference(request.id), municipalityCode: request.municipalityCode, mykeyId: residents.get(request.mykeyPk)!.mykeyId,
    partnerId: request.partnerId, points: request.points, campaignId: campaigns.get(premiumKey(request)), now,
  })));
  await repo.markCredited(trx, eligible.map((request, i) => ({
    id: request.id, entryId: credited[i]!.entryId, campaignId: campaigns.get(premiumKey(request)) ?? null,
    basePoints: credited[i]!.basePoints, premiumPoints: credited[i]!.premiumPoints, webhook: Boolean(partners.get(request.partnerId)!.webhookUrl),
  })), now);
}

/** The premium campaign of each municipality and partner the requests name, on today's Japanese date. */
async function premiumCampaigns(trx: Trx, requests: LockedRequest[], now: Date): Promise<Map<string, number | undefined>> {
  const campaigns = new Map<string, number | undefined>();
  for (const r of requests) {
    const key = premiumKey(r);
    if (!campaigns.has(key)) campaigns.set(key, await campaignsRepository.premiumCampaign(trx, r.municipalityCode, tokyoDate(now), r.partnerId));
  }
  return campaigns;
}

const premiumKey = (r: { municipalityCode: string; partnerId: number }) => `${r.municipalityCode}:${r.partnerId}`;

async function rejectAlone(trx: Trx, id: number, outcome: RejectedOutcome, now: Date): Promise<void> {
  const [request] = await repo.lockRequests(trx, [id]);
  if (request?.state !== 'accepted') return;
  const partner = (await partnerRepository.states(trx, [request.partnerId])).get(request.partnerId)!;
  await repo.markRejected(trx, id, outcome, Boolean(partner.webhookUrl), now);
}

export interface BatcherOptions {
  /** Most requests in one transaction. */
  maxBatch: number;
  /** Most transactions at once (per process). */
  transactions: number;
}

/**
 * Gathers the requests of concurrently running jobs into shared transactions: a job waits for
 * the transaction that took its request. While transactions are running, arriving requests
 * wait for the next one, so under load batches grow by themselves; an idle processor takes a
 * lone request at once. A request left unprocessed by a passing error fails its job, which
 * Bull retries with backoff; the attempt is counted on the request.
 */
export function conversionBatcher(db: Db, log: Logger, options: BatcherOptions) {
  let waiting: Array<{ id: number; done: (error?: unknown) => void }> = [];
  let running = 0;
  let scheduled = false;

  function start(): void {
    scheduled = false;
    while (running < options.transactions && waiting.length > 0) {
      const batch = waiting.slice(0, options.maxBatch);
      waiting = waiting.slice(batch.length);
      running++;
      void run(batch).finally(() => {
        running--;
        start();
      });
    }
  }

  async function run(batch: typeof waiting): Promise<void> {
    let failed: Map<number, unknown>;
    const started = performance.now();
    try {
      failed = await processConversions(db, batch.map((b) => b.id));
    } catch (error) {
      failed = new Map(batch.map((b) => [b.id, error]));
    }
    log.debug({ conversions: batch.length, ms: Math.round(performance.now() - started) }, 'conversion batch');
    if (failed.size > 0) {
      log.warn({ err: failed.values().next().value, conversionIds: [...failed.keys()] }, 'conversions left accepted by a passing error; their jobs are retried');
      await repo.countFailedAttempt(db, [...failed.keys()]).catch((error) => log.warn({ err: error }, 'could not count the failed attempt'));
    }
    for (const { id, done } of batch) done(failed.get(id));
  }

  function process(id: number): Promise<void> {
    return new Promise((resolve, reject) => {
      waiting.push({ id, done: (error) => (error === undefined ? resolve() : reject(error)) });
      // Requests arriving in the same turn of the event loop share the transaction.
      if (!scheduled) {
        scheduled = true;
        setImmediate(start);
      }
    });
  }

  // A chunk's requests fill `transactions` batches by themselves: more chunks at once would
  // only hold their requests in memory, waiting.
  const chunks = pLimit(options.transactions);

  return {
    /** Resolves once the request is credited or rejected (or was already); rejects with the passing error otherwise. */
    process,
    /** The same for a batch file's chunk of requests: resolves once each is, rejects with a passing error that left one accepted. */
    processChunk: (ids: number[]): Promise<void> => chunks(async () => {
      const failed = (await Promise.allSettled(ids.map(process))).find((result) => result.status === 'rejected');
      if (failed) throw failed.reason;
    }),
  };
}
