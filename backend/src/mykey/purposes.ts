// What a card is tapped for at the MyKey ID's own services (registered in app.ts, one line each).
// A shop's device is answered the shop's pseudonym of the resident, never the MyKey ID
// (residentFor; docs/pseudonyms.md).
import type { Purpose } from '../card-taps/purposes.ts';
import type { OrganizationKind } from '@mykey/contracts/staff.ts';
import { residentFor } from './pseudonym.ts';
import { loginOrIssue, usableMykeyOf } from './service.ts';

/** A resident's card works at every enrolled device: a town's, or a shop's. */
const EVERY_DEVICE: readonly OrganizationKind[] = ['municipality', 'merchant'];

/**
 * The card logs in: its MyKey ID, issued on its first login with the device's town as its home
 * (from the MyKey secret, `secret`). A known card's login only reads: it is planned, and commits
 * its used challenge with other logins' (card-taps' group commit); a first login issues alone.
 */
export const loginPurpose = (secret: Buffer): Purpose => ({
  name: 'login', proofs: ['pin'], deviceKinds: EVERY_DEVICE, valueMoving: false,
  handle: async (trx, { card, device, now }) => {
    const { mykeyId, issued } = await loginOrIssue(trx, secret, card, device, now);
    return { ...residentFor(secret, device.organization, mykeyId), issued };
  },
  planned: {
    async plan(conn, { card, device }) {
      const mykeyId = await usableMykeyOf(conn, card.certKey, device.municipalityCode);
      if (mykeyId === undefined) throw new Error('a first login issues its MyKey ID in a transaction of its own');
      return { answer: { ...residentFor(secret, device.organization, mykeyId), issued: false }, rows: undefined };
    },
  },
});

/**
 * The signed challenge is kept as the proof of the card for a later call: relink
 * (POST /mykeys/relinks), counter_relink (staff's relink) and home_move (POST /mykeys/home-moves).
 * Linking a new card moves everything the ID holds, and a home move hands the identity to
 * another town's staff: all are value-moving.
 */
export const cardProofPurpose = (name: 'relink' | 'counter_relink' | 'home_move', secret: Buffer): Purpose => ({
  name, proofs: ['pin'], deviceKinds: EVERY_DEVICE, valueMoving: true, keepsProof: true,
  // A town's block refuses the ID at its devices, whatever the card signs there for.
  handle: async (trx, { card, device }) => residentFor(secret, device.organization, (await usableMykeyOf(trx, card.certKey, device.municipalityCode)) ?? null),
});
