// When the agent presents a PIN to a card. Any page of an allowed origin that holds the pairing
// token can post PINs, and the agent cannot tell a resident's typing from a script's. What a
// script cannot do is move the card, so:
// - after a wrong PIN, the agent presents no PIN to that reader's card until the card has been
//   seen taken off the reader (and placed again): one try per placing of the card;
// - with one try left, the agent presents no PIN at all: a wrong one would lock the card, and
//   only the municipal counter can unlock it.
// A script can so spend at most one try each time the resident places the card, and can never
// lock it. The memory of a wrong PIN lasts as long as the agent runs.
import type { PcscService } from '../pcsc/pcsc.ts';
import { AgentError } from './errors.ts';

export class PinRule {
  /** Readers whose card got a wrong PIN and has not been taken off since. */
  private readonly awaitingRemoval = new Set<string>();

  constructor(pcsc: PcscService) {
    pcsc.on('removed', (reader) => this.awaitingRemoval.delete(reader));
  }

  /** Throws while `reader`'s card had a wrong PIN and is still on it. */
  checkReader(reader: string): void {
    if (this.awaitingRemoval.has(reader)) throw new AgentError('pin_needs_card_again');
  }

  /** Right before the PIN goes to the card, with its tries left (asked without spending one). */
  checkTries(reader: string, triesLeft: number): void {
    this.checkReader(reader);
    if (triesLeft === 1) throw new AgentError('pin_one_try_left');
  }

  /** The card on `reader` refused the PIN. */
  wrongPin(reader: string): void {
    this.awaitingRemoval.add(reader);
  }
}
