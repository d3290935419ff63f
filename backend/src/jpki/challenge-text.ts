// The text a card signs for a challenge, shared by the backend, which rebuilds it from its own
// row to check a signature, and the reader agent, which rebuilds it from the challenge it was
// given and refuses to have the card sign anything else. Free of server imports on purpose.

export const CHALLENGE_PURPOSES = ['login', 'relink', 'counter_relink'] as const;
export type ChallengePurpose = (typeof CHALLENGE_PURPOSES)[number];

export interface Challenge {
  id: string;
  deviceId: number;
  purpose: ChallengePurpose;
  expiresAt: Date;
}

/** The exact bytes the card signs (as a SHA-256 DigestInfo). */
export function canonicalChallenge(challenge: Challenge): Buffer {
  return Buffer.from([
    'MyKey challenge v1',
    `id: ${challenge.id}`,
    `purpose: ${challenge.purpose}`,
    `device: ${challenge.deviceId}`,
    `expires: ${challenge.expiresAt.toISOString()}`,
    '',
  ].join('\n'), 'utf8');
}
