// A PIN-less tap: the agent reads the card's user-authentication certificate and reports it to
// the backend, as the enrolled device, for a purpose that takes a tap (a lookup at a service's
// counter or gate). Nothing is signed and no PIN is asked, so it is quick: one exclusive card
// connection that selects the JPKI application and reads the certificate, through the same APDU
// guard as a login. The certificate is public data: what the tap adds is this device's word
// that it read it from a card in its reader now (docs/identity.md#pin-less-taps).
import { JpkiSession } from '../jpki/commands.ts';
import type { PcscService } from '../pcsc/pcsc.ts';
import type { CardTapAnswer } from './backend-client.ts';
import type { EnrolledDevice } from './card-login.ts';
import { AgentError } from './errors.ts';
import type { JournaledTap, JournalSender } from './tap-journal.ts';

/**
 * `requested`: for a purpose with terms, the value of their request field. `offline: 'journal'`:
 * a purpose whose taps may wait (a shelter's check-in): kept in the journal when the backend
 * cannot take it now (tap-journal.ts).
 */
export interface CardTapRequest { purpose: string; reader?: string; requested?: string; offline?: 'journal' }

/**
 * Reads the certificate and hands it to the backend; answers the backend's answer. Throws
 * AgentError (not enrolled), CardError (card, reader) or BackendError (the backend's own code
 * and words: card_tap_not_allowed for a purpose that wants the PIN, say).
 */
export async function cardTap(pcsc: PcscService, device: EnrolledDevice | null, request: CardTapRequest, journal: JournalSender | null): Promise<CardTapAnswer | JournaledTap> {
  if (!device) throw new AgentError('not_enrolled');
  // No PIN was verified, so there is no security state to clear: the card is left, not reset,
  // which spares the next tap the card's answer-to-reset.
  const certificate = await pcsc.withCard(request.reader, 'leave', (transmit) => new JpkiSession(transmit).readAuthCertificate());
  if (request.offline === 'journal' && journal && request.requested === undefined) return journal.tap(request.purpose, certificate, new Date());
  return device.backend.cardTap(request.purpose, certificate.toString('base64'), request.requested);
}
