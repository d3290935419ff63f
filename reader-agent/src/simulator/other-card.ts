// A card that is not a My Number card, for `card-sim --card other`: what a resident may put
// on the reader by mistake (a transit or shopping IC card). It has no JPKI application, so
// the agent's first command, the SELECT of the JPKI AID, is answered "file not found".
import { parseCommand, response, SW } from './apdu.ts';
import type { SimulatedCard } from './vpcd-client.ts';

/**
 * The ATR a PC/SC contactless reader builds for a FeliCa card (PC/SC part 3: RID A000000306,
 * standard 11 = FeliCa, card name 003B), the commonest other IC card at a Japanese counter.
 */
export const OTHER_CARD_ATR = Buffer.from('3B8F8001804F0CA0000003061100' + '3B0000000042', 'hex');

export class OtherCard implements SimulatedCard {
  readonly atr: Buffer = Buffer.from(OTHER_CARD_ATR);
  private powered = false;

  get isPowered(): boolean {
    return this.powered;
  }

  powerOn(): Buffer {
    this.powered = true;
    return Buffer.from(this.atr);
  }

  powerOff(): void {
    this.powered = false;
  }

  reset(): Buffer {
    return this.powerOn();
  }

  transmit(command: Uint8Array): Buffer {
    if (!this.powered) throw new Error('card is not powered');
    const cmd = parseCommand(command);
    if (!cmd) return response(SW.WRONG_LENGTH);
    // No application answers to any AID or file id: every SELECT finds nothing.
    if (cmd.cla === 0x00 && cmd.ins === 0xa4) return response(SW.FILE_NOT_FOUND);
    return response(SW.WRONG_INS);
  }
}
