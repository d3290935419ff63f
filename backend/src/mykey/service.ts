// Issuing MyKey IDs and resolving a card to its MyKey ID.
import type { Knex } from 'knex';
import type { AuditEvent } from '../audit/chain.ts';
import { appendAudit } from '../audit/chain.ts';
import { ConcurrentChange, type Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import { certificateKey, mykeyIdCandidate } from './id.ts';
import { mykeyRepository as repo, type CardBinding } from './repository.ts';

// At 120 million residents an ID is taken with probability ~0.35 %; 16 taken in a row is
// ~1e-39 (docs/mykey-id.md), so running out means a bug, not bad luck.
const MAX_CANDIDATES = 16;

export interface CardIdentity { issuerDer: Buffer; serialHex: string }

export function mykeyService(db: Db, secret: Buffer) {
  const keyOf = (card: CardIdentity) => certificateKey(secret, card.issuerDer, card.serialHex);

  /** The MyKey ID a card may log in as; a replaced or revoked card, or a suspended ID, may not. */
  function usable(binding: CardBinding): CardBinding {
    if (binding.certificateStatus === 'replaced') throw new Problem('certificate_replaced');
    if (binding.certificateStatus === 'revoked') throw new Problem('certificate_revoked', 'This card was found revoked; its MyKey ID waits for a new card to be linked.');
    if (binding.mykeyStatus === 'suspended') throw new Problem('mykey_suspended');
    return binding;
  }

  async function issue(trx: Knex.Transaction, card: CardIdentity, actor: AuditEvent['actor']): Promise<string> {
    for (let attempt = 0; attempt < MAX_CANDIDATES; attempt++) {
      const mykeyId = mykeyIdCandidate(secret, card.issuerDer, card.serialHex, attempt);
      const mykeyPk = await repo.insertMykey(trx, mykeyId);
      if (mykeyPk === undefined) continue;
      try {
        await repo.linkCertificate(trx, keyOf(card), mykeyPk, 'issued');
      } catch (error) {
        // The same card, issued at this moment through another device: run again to find it.
        if ((error as { code?: string }).code === 'ER_DUP_ENTRY') throw new ConcurrentChange('card issued concurrently');
        throw error;
      }
      await appendAudit(trx, { action: 'mykey.issued', actor, subject: mykeyId, details: { attempt } });
      return mykeyId;
    }
    throw new Error(`no free MyKey ID among ${MAX_CANDIDATES} candidates`);
  }

  return {
    keyOf,

    /** Logs a card in: its MyKey ID, issued on first use (the same card always gets the same ID). */
    async loginOrIssue(trx: Knex.Transaction, card: CardIdentity, actor: AuditEvent['actor']): Promise<{ mykeyId: string; issued: boolean }> {
      const binding = await repo.bindingOf(trx, keyOf(card));
      if (binding) return { mykeyId: usable(binding).mykeyId, issued: false };
      return { mykeyId: await issue(trx, card, actor), issued: true };
    },

    /** The MyKey ID of a card, if it has one it may use; undefined for a card never seen. */
    async usableMykeyOf(conn: Db | Knex.Transaction, certKey: Buffer): Promise<string | undefined> {
      const binding = await repo.bindingOf(conn, certKey);
      return binding && usable(binding).mykeyId;
    },

    /** A revoked certificate stops logging in for good; its MyKey ID waits for a relink. */
    async noteRevoked(card: CardIdentity, now: Date): Promise<void> {
      const certKey = keyOf(card);
      await db.transaction(async (trx) => {
        const binding = await repo.bindingOf(trx, certKey);
        if (!binding || binding.certificateStatus !== 'active') return;
        await trx('mykey_certificates').where({ cert_key: certKey, status: 'active' }).update({ status: 'revoked', ended_at: now });
        await appendAudit(trx, { action: 'mykey.certificate_revoked', actor: { kind: 'system', id: 'crl' }, subject: binding.mykeyId });
      });
    },
  };
}

export type MykeyService = ReturnType<typeof mykeyService>;
