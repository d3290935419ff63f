// What a card is tapped for at a shelter's devices (registered in app.ts, one line each). PIN-less
// by design — people arrive shaken, and a forgotten PIN must keep no one out — and with the PIN
// too when the agent sends one. docs/shelters.md says what a PIN-less tap proves here. Journaled:
// when the network is down the desk keeps the taps and sends them later, recorded at the time
// the card was tapped (docs/tap-journal.md) — a shelter must know who came in during an outage.
import type { Purpose } from '../card-taps/purposes.ts';
import { checkIn, checkOut } from './service.ts';

// A tap is taken whatever the network (a journaled one arrives late, at its own time) and
// whatever the revocation list's age: in a disaster neither may keep anyone out.
const shelterPurpose = (name: string, handle: Purpose['handle']): Purpose => ({
  name, proofs: ['pin', 'tap'], deviceKinds: ['municipality'], valueMoving: false, journaled: true, tapsWithoutRevocation: true, handle,
});

/** The resident is inside the shelter the device serves from now (or moves here from another). */
export const shelterCheckInPurpose = shelterPurpose('shelter_check_in', checkIn);

/** The resident inside the shelter the device serves is out from now. */
export const shelterCheckOutPurpose = shelterPurpose('shelter_check_out', checkOut);
