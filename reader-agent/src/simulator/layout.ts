// Where things live on a My Number card: application identifiers and file ids.
// Values follow the published readers (OpenSC's jpki driver); see /work/shared/jpki-card.md.

export const ATR = Buffer.from('3BE000FF8131FE4514', 'hex');

/** The JPKI application: the only one this platform may select. */
export const JPKI_AID = 'D392F000260100000001';

/**
 * Applications that hold the My Number or other card-face data. The platform must never
 * select them; the simulator carries them (with a fake number) so tests can prove that.
 */
export const OFF_LIMITS_AIDS: Readonly<Record<string, string>> = {
  D3921000310001010408: 'card-info input support AP (券面事項入力補助AP)',
  D3921000310001010402: 'card-face confirmation AP (券面確認AP)',
  D3921000310001010100: 'resident-registry AP (住基AP)',
};

export const INPUT_SUPPORT_AID = 'D3921000310001010408';

/** File ids inside the JPKI application. */
export const JPKI_FILES = {
  signCertificate: 0x0001,
  signCaCertificate: 0x0002,
  authCertificate: 0x000a,
  authCaCertificate: 0x000b,
  authPrivateKey: 0x0017,
  authPin: 0x0018,
  signPrivateKey: 0x001a,
  signPin: 0x001b,
} as const;

/** File ids inside the card-info input support application. */
export const INPUT_SUPPORT_FILES = {
  myNumber: 0x0001,
  pin: 0x0011,
} as const;

export const AUTH_PIN_TRIES = 3;
export const SIGN_PIN_TRIES = 5;
/** The input-support PIN is, like the auth PIN, 4 digits with 3 tries. */
export const INPUT_SUPPORT_PIN_TRIES = 3;

export function applicationName(aidHex: string): string | undefined {
  const aid = aidHex.toUpperCase();
  if (aid === JPKI_AID) return 'JPKI AP (公的個人認証)';
  return OFF_LIMITS_AIDS[aid];
}
