// What a card is tapped for at an event's device (registered in app.ts, one line): taking part,
// which grants the event's points once. With the PIN, or PIN-less where the event's tap policy
// allows (the handler checks the policy, as a service's look-up does).
import type { Purpose } from '../card-taps/purposes.ts';
import { attend } from './service.ts';

export const eventAttendancePurpose: Purpose = {
  // Points move: under fail-closed, refused when the card's revocation cannot be checked.
  name: 'event_attendance', proofs: ['pin', 'tap'], deviceKinds: ['municipality'], valueMoving: true,
  handle: attend,
};
