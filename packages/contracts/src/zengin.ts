// A shop's bank account, and the characters its names may hold, as the Zengin (全銀協) transfer
// file that pays the shops writes them: the shop's form, the backend's checks and the file's
// writer share these, so a name the form took is a name the file can write.
import Encoding from 'encoding-japanese';

export type AccountType = 'ordinary' | 'current' | 'savings';

/** 預金種目 in the file: 1 普通, 2 当座, 4 貯蓄. */
export const ACCOUNT_TYPE_CODE: Readonly<Record<AccountType, number>> = { ordinary: 1, current: 2, savings: 4 };

/** Where a shop is paid. Codes are digits (bank 4, branch 3, account 7); names are Zengin text (zenginName). */
export interface BankAccount {
  bankCode: string;
  bankNameKana: string;
  branchCode: string;
  branchNameKana: string;
  accountType: AccountType;
  accountNumber: string;
  holderKana: string;
}

/** The widths of the file's name fields, in characters (each one byte in Shift_JIS). */
export const ZENGIN_NAME_MAX = { bank: 15, branch: 15, holder: 30 } as const;

export const BANK_CODE = /^\d{4}$/;
export const BRANCH_CODE = /^\d{3}$/;
export const ACCOUNT_NUMBER = /^\d{7}$/;

// Digits, upper-case letters, half-width katakana without the small ones (ｦ and ｱ–ﾝ), the
// voicing marks, the space and ( ) . , - / ｢ ｣.
const ZENGIN_CHARACTER = /^[0-9A-Zｦｱ-ﾝﾞﾟ ().,\-/｢｣]$/u;

// The file has no small kana and no long-vowel mark: banks write ｼﾔ for シャ and - for ー.
const ZENGIN_SPELLING: Readonly<Record<string, string>> = {
  ｧ: 'ｱ', ｨ: 'ｲ', ｩ: 'ｳ', ｪ: 'ｴ', ｫ: 'ｵ', ｬ: 'ﾔ', ｭ: 'ﾕ', ｮ: 'ﾖ', ｯ: 'ﾂ', ｰ: '-', '\u3000': ' ',
};

export type ZenginText = { ok: true; value: string } | { ok: false; reason: 'empty' | 'too_long'; invalid: string[] } | { ok: false; reason: 'invalid_characters'; invalid: string[] };

/**
 * A name as the file writes it: hiragana and full-width katakana, letters and digits made
 * half-width (ヤマダ　タロウ → ﾔﾏﾀﾞ ﾀﾛｳ), letters upper-case; or why it cannot be written, with
 * the characters that cannot (kanji, say: a holder's name must be given in kana).
 */
export function zenginText(text: string, maxLength: number): ZenginText {
  const halfWidth = Encoding.toHankanaCase(Encoding.toHankakuCase(Encoding.toKatakanaCase(text.trim()))).toUpperCase();
  const characters = [...halfWidth].map((c) => ZENGIN_SPELLING[c] ?? c);
  const invalid = [...new Set(characters.filter((c) => !ZENGIN_CHARACTER.test(c)))];
  if (invalid.length > 0) return { ok: false, reason: 'invalid_characters', invalid };
  if (characters.length === 0) return { ok: false, reason: 'empty', invalid: [] };
  if (characters.length > maxLength) return { ok: false, reason: 'too_long', invalid: [] };
  return { ok: true, value: characters.join('') };
}

/** Zengin text (a zenginText value, or digits) as the file's bytes: Shift_JIS, one byte a character. */
export function shiftJis(text: string): Uint8Array {
  return Uint8Array.from(Encoding.convert(Encoding.stringToCode(text), { to: 'SJIS', from: 'UNICODE', type: 'array' }));
}
