// The repeatable Bull job that keeps the CRLs in MySQL current: it reads every configured
// source, checks each CRL against the trust anchors, keeps it when it is newer than the one
// held, and records what each source did. A failing source is logged and recorded; it never
// fails the others and never erases the CRL already held.
import type * as pkijs from 'pkijs';
import type { Logger } from '../log.ts';
import type { Db } from '../db.ts';
import { crlRepository as repo, type SourceOutcome } from './crl-repository.ts';
import { CRL_FETCH_LIMITS, readCrlSource, type CrlFetchLimits, type CrlSource } from './crl-sources.ts';
import { CrlError, RevocationList } from './revocation.ts';

export const CRL_QUEUE = 'jpki-crls';

export interface CrlRefreshDeps {
  db: Db;
  anchors: pkijs.Certificate[];
  sources: CrlSource[];
  log: Logger;
  limits?: CrlFetchLimits;
}

/** One pass over every source, all at once; resolves with each source's outcome. */
export async function refreshCrls(deps: CrlRefreshDeps): Promise<SourceOutcome[]> {
  return Promise.all(deps.sources.map((source) => refreshSource(deps, source)));
}

async function refreshSource(deps: CrlRefreshDeps, source: CrlSource): Promise<SourceOutcome> {
  const attemptedAt = new Date();
  const log = deps.log.child({ crlSource: source.location });
  let outcome: SourceOutcome;
  try {
    const der = await readCrlSource(source, deps.limits ?? CRL_FETCH_LIMITS);
    // A list of its own, so only the signature and the fields are checked here.
    const crl = await new RevocationList(deps.anchors).add(der);
    const stored = await repo.storeIfNewer(deps.db, {
      issuerKey: crl.issuerKey, issuerName: crl.issuer, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate, der, source: source.location, fetchedAt: attemptedAt,
    });
    outcome = { source: source.location, attemptedAt, outcome: stored, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate };
    const stale = !crl.nextUpdate || crl.nextUpdate < attemptedAt;
    log[stale ? 'warn' : 'info']({ outcome: stored, issuer: crl.issuer, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate, entries: crl.entries, stale },
      stale ? 'CRL is past its next update: the source is not being renewed' : 'CRL checked');
  } catch (error) {
    // Only a CrlError is about the source; anything else (MySQL) is recorded as a failure to store.
    const failure = error instanceof CrlError ? { code: error.code, detail: error.message } : { code: 'crl_store_failed', detail: error instanceof Error ? error.message : String(error) };
    outcome = { source: source.location, attemptedAt, outcome: 'failed', error: failure };
    log.warn({ code: failure.code, detail: failure.detail }, 'CRL source failed; the CRL held before stays in use');
  }
  await repo.recordSource(deps.db, outcome);
  return outcome;
}
