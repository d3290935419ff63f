// Certificate verification for the API: the trust anchors, the CRLs every API process shares
// through MySQL, and the revocation policy, behind one call. The CRLs are held in memory and
// reloaded only when MySQL has a newer one, looked for at most every few seconds: a
// verification itself never waits on the database (after the very first). What does not
// depend on the clock or the CRLs (parsing, the CA's signature) is kept per certificate, so a
// card seen again costs a hash and a few comparisons.
import { createHash } from 'node:crypto';
import type * as pkijs from 'pkijs';
import type { JpkiConfig } from '../config.ts';
import type { Db } from '../db.ts';
import type { Logger } from '../log.ts';
import { examineCertificate, judgeCertificate, MAX_CERTIFICATE_BYTES, type ExaminedCertificate, type RefusedCertificate, type Verdict } from './certificates.ts';
import { crlRepository } from './crl-repository.ts';
import { certificateChecks } from '../metrics/metrics.ts';
import { RevocationList } from './revocation.ts';

export type RevocationPolicy = JpkiConfig['JPKI_REVOCATION_POLICY'];

/** Certificates whose examination is kept; the least recently seen is dropped first. */
const EXAMINED_CACHE_SIZE = 2_000;

export interface CertificateVerifierOptions {
  anchors: pkijs.Certificate[];
  db: Db;
  policy: RevocationPolicy;
  log?: Logger;
  /** How often verify() looks in MySQL for newer CRLs; default 5 seconds. */
  recheckMs?: number;
}

export interface VerifyCertificateOptions {
  /** A value-moving operation is refused under `fail-closed` when revocation cannot be checked; a login never is. */
  valueMoving: boolean;
  now?: Date;
}

export class CertificateVerifier {
  private readonly anchors: pkijs.Certificate[];
  private readonly policy: RevocationPolicy;
  private readonly db: Db;
  private readonly log: Logger | undefined;
  private readonly recheckMs: number;
  private readonly list: RevocationList;
  /** thisUpdate (ms) of the CRL last taken from MySQL, per issuer key (hex); refused ones too, so they are not retried. */
  private readonly taken = new Map<string, number>();
  private loaded = false;
  private checkedAt = Number.NEGATIVE_INFINITY;
  private pending: Promise<void> = Promise.resolve();
  /** By SHA-256 of the DER; a Map iterates in insertion order, so re-inserting on use makes it an LRU. */
  private readonly examined = new Map<string, Promise<ExaminedCertificate | RefusedCertificate>>();

  constructor(options: CertificateVerifierOptions) {
    this.anchors = options.anchors;
    this.policy = options.policy;
    this.db = options.db;
    this.log = options.log;
    this.recheckMs = options.recheckMs ?? 5_000;
    this.list = new RevocationList(options.anchors);
  }

  async verify(der: Uint8Array, options: VerifyCertificateOptions): Promise<Verdict> {
    const verdict = await this.judge(der, options);
    certificateChecks.inc({ verdict: verdict.ok ? 'accepted' : verdict.code });
    return verdict;
  }

  private async judge(der: Uint8Array, options: VerifyCertificateOptions): Promise<Verdict> {
    const looking = this.refreshIfDue();
    // Until MySQL has been read once, an answer would ignore every CRL: wait for that first look.
    if (!this.loaded) await looking;
    const examined = await this.examine(der);
    if (!examined.ok) return examined;
    return judgeCertificate(examined, {
      revocation: (issuer, serialHex, at) => this.list.status(issuer, serialHex, at),
      failClosed: options.valueMoving && this.policy === 'fail-closed',
      now: options.now ?? new Date(),
    });
  }

  /** Looks in MySQL now and takes every CRL newer than the one held. Rejects when MySQL cannot be read. */
  async refresh(): Promise<void> {
    const changed = (await crlRepository.versions(this.db)).filter((v) => this.taken.get(v.issuerKey.toString('hex')) !== v.thisUpdate.getTime());
    for (const crl of await crlRepository.crls(this.db, changed.map((v) => v.issuerKey))) {
      try {
        await this.list.add(crl.der);
      } catch (error) {
        // The job checked it against its anchors; this process may have been given others.
        this.log?.error({ err: error, issuerKey: crl.issuerKey.toString('hex') }, 'a CRL in MySQL is not valid for this process\'s trust anchors; ignored');
      }
      this.taken.set(crl.issuerKey.toString('hex'), crl.thisUpdate.getTime());
    }
    this.loaded = true;
  }

  private examine(der: Uint8Array): Promise<ExaminedCertificate | RefusedCertificate> {
    // Oversized input is refused at once by examineCertificate; it is not worth hashing or keeping.
    if (der.length > MAX_CERTIFICATE_BYTES) return examineCertificate(der, this.anchors);
    const key = createHash('sha256').update(der).digest('base64');
    const kept = this.examined.get(key);
    if (kept) {
      this.examined.delete(key);
      this.examined.set(key, kept);
      return kept;
    }
    const examining = examineCertificate(der, this.anchors);
    // It answers refusals rather than throwing; should it ever throw, the next call tries afresh.
    examining.catch(() => this.examined.delete(key));
    this.examined.set(key, examining);
    if (this.examined.size > EXAMINED_CACHE_SIZE) this.examined.delete(this.examined.keys().next().value!);
    return examining;
  }

  private refreshIfDue(): Promise<void> {
    const now = Date.now();
    if (now - this.checkedAt < this.recheckMs) return this.pending;
    this.checkedAt = now;
    this.pending = this.refresh().catch((error: unknown) => {
      this.log?.warn({ err: error }, 'cannot read the CRLs from MySQL; verifying with those already held');
    });
    return this.pending;
  }
}
