// What a card is tapped for to open the resident's own page (registered in app.ts; docs/resident.md).
// Always with the PIN: the page shows what the resident holds and did. The signed challenge is
// kept as the proof the browser beside the device hands in for the session (POST /resident/sessions).
import type { Purpose } from '../card-taps/purposes.ts';
import { checkCard, RESIDENT_PAGE } from './service.ts';

export const residentPagePurpose: Purpose = {
  name: RESIDENT_PAGE, proofs: ['pin'], deviceKinds: ['municipality'], valueMoving: false, keepsProof: true, handle: checkCard,
};
