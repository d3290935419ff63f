// The MyKey ID's spelling and its check character, without any secret: pure functions that
// the backend and the console (which checks a typed ID as the clerk types it) both use.
// The derivation from a card is in id.ts; docs/mykey-id.md has the arithmetic.

/** 32 symbols: the digits 2-9 and the letters A-Z without I and O. Symbol i has value i. */
export const MYKEY_ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';

export const PAYLOAD_LENGTH = 7;
export const ID_LENGTH = PAYLOAD_LENGTH + 1;
// Longer input is refused before normalising it, so a hostile string costs nothing.
const MAX_INPUT_LENGTH = 64;
// Separators people type between groups, on Latin and Japanese keyboards (ー is what an IME
// gives for "-"; NFKC turns full-width hyphens and the ideographic space into ASCII first).
const SEPARATORS = /[\s\-‐‑‒–—―−ー]/gu;

/*
 * The check character: Damm's scheme over a totally anti-symmetric quasigroup of order 32.
 *
 * Symbols are elements of GF(32) = GF(2)[x] / (x^5 + x^2 + 1); addition is XOR. Define
 *   u ∘ v = a·u + v   with a = x (the value 2).
 * A string s1..sn is valid when ((0 ∘ s1) ∘ s2) ... ∘ sn = 0.
 *
 * Quasigroup: for fixed u, v ↦ a·u + v is a bijection (a translation); for fixed v,
 * u ↦ a·u + v is a bijection because a ≠ 0 is invertible. So the running value after any
 * position is a bijective function of the symbol there and of the value before it, and
 * every later step maps different values to different values.
 *
 * Single substitution: changing s_i to s_i' ≠ s_i changes the running value after i (v ↦ u∘v
 * is injective); every later step keeps them different (u ↦ u∘v is injective), so the end
 * value is no longer 0. Caught, at every position including the check character.
 *
 * Adjacent transposition of s_i ≠ s_{i+1}, with u the value before them:
 *   (u ∘ p) ∘ q = a²u + a·p + q     and     (u ∘ q) ∘ p = a²u + a·q + p.
 * They are equal only if (a + 1)·p = (a + 1)·q; a + 1 ≠ 0 (a ≠ 1), so only if p = q. This is
 * total anti-symmetry, and it holds for every u, so it covers the last payload character
 * swapped with the check character too. The values after the pair differ, and later steps
 * keep them apart as above. Caught.
 *
 * Not guaranteed (and not claimed): twin errors (aa → bb) and jump transpositions (abc → cba).
 * The check character is the unique c with interim ∘ c = 0, that is c = a·interim.
 */
const FIELD_MODULUS = 0b100101; // x^5 + x^2 + 1, irreducible over GF(2)

/** a·u in GF(32) with a = x: shift left, and reduce when x^5 appears. */
function timesX(u: number): number {
  return (u << 1) ^ (u & 0b10000 ? FIELD_MODULUS : 0);
}

/** The running value after the given symbol values, starting from 0. */
function interim(values: number[]): number {
  return values.reduce((u, v) => timesX(u) ^ v, 0);
}

export function checkValue(payload: number[]): number {
  return timesX(interim(payload));
}

export function encode(values: number[]): string {
  return values.map((v) => MYKEY_ALPHABET[v]).join('');
}

export type MykeyIdProblem = 'mykey_id_malformed' | 'mykey_id_check_failed';

/** What a person typed, as the check reads it: NFKC, without separators, ASCII upper-cased. */
export function compactMykeyId(input: string): string {
  // Upper-casing ASCII only: Unicode upper-casing turns ß into SS and ı into I.
  return input.normalize('NFKC').replace(SEPARATORS, '').replace(/[a-z]/g, (c) => c.toUpperCase());
}

/**
 * A MyKey ID as a person typed it, in its one canonical spelling, or why not. Accepts lower
 * case, full-width characters (NFKC), spaces and hyphens; never guesses a correction.
 */
export function parseMykeyId(input: string): { ok: true; id: string } | { ok: false; code: MykeyIdProblem; detail: string } {
  if (input.length > MAX_INPUT_LENGTH) return { ok: false, code: 'mykey_id_malformed', detail: `a MyKey ID has ${ID_LENGTH} characters; the input is far longer` };
  const id = compactMykeyId(input);
  for (const character of id) {
    if (!MYKEY_ALPHABET.includes(character)) {
      return { ok: false, code: 'mykey_id_malformed', detail: `${JSON.stringify(character)} is not a MyKey ID character (they are 2-9 and A-Z without I and O)` };
    }
  }
  if (id.length !== ID_LENGTH) return { ok: false, code: 'mykey_id_malformed', detail: `a MyKey ID has ${ID_LENGTH} characters, not ${id.length}` };
  if (interim([...id].map((c) => MYKEY_ALPHABET.indexOf(c))) !== 0) {
    return { ok: false, code: 'mykey_id_check_failed', detail: 'the check character does not match: a character is mistyped or two are swapped' };
  }
  return { ok: true, id };
}
