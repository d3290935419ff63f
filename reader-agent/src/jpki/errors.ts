// Every way a card operation can fail, with what the clerk or resident should read.

export interface Messages { ja: string; en: string }

const catalogue = {
  no_reader: { ja: 'カードリーダーが見つかりません。リーダーの接続を確認してください。', en: 'No card reader found. Please check that the reader is connected.' },
  no_card: { ja: 'カードをリーダーに置いてください。', en: 'Please place the card on the reader.' },
  card_removed: { ja: '処理中にカードが外されました。カードを置いたまま、もう一度お試しください。', en: 'The card was removed during the operation. Please keep it on the reader and try again.' },
  reader_gone: { ja: '処理中にカードリーダーが外されました。接続を確認して、もう一度お試しください。', en: 'The card reader was disconnected during the operation. Please reconnect it and try again.' },
  pcsc_unavailable: { ja: 'カードリーダーのサービス（pcscd）に接続できません。自動で再接続します。', en: 'Cannot reach the card reader service (pcscd). Reconnecting automatically.' },
  reader_busy: { ja: 'カードリーダーを別のアプリが使用中です。しばらくしてからもう一度お試しください。', en: 'Another application is using the card reader. Please try again in a moment.' },
  not_my_number_card: { ja: 'マイナンバーカードではないか、利用者証明用電子証明書が入っていないカードです。', en: 'This is not a My Number card, or it holds no user-authentication certificate.' },
  pin_format: { ja: '暗証番号は数字4桁で入力してください。', en: 'The PIN must be 4 digits.' },
  // The agent takes no further PIN for this card until it has been taken off the reader and
  // placed again, and none at all with one try left (reader-agent/src/agent/pin-rule.ts).
  pin_wrong: {
    ja: '暗証番号が違います（残り{tries}回）。もう一度入力するには、カードをいったんリーダーから外して、置き直してください。',
    en: 'Wrong PIN ({tries} tries left). To try again, take the card off the reader and place it again.',
  },
  pin_last_try: {
    ja: '暗証番号が違います（残り1回）。カードがロックされないよう、この端末ではこれ以上暗証番号を受け付けません。市区町村の窓口で暗証番号の確認・再設定をしてください。',
    en: 'Wrong PIN (1 try left). So that the card does not lock, this terminal takes no more PINs for it. Please have the PIN checked or reset at your municipal office counter.',
  },
  pin_blocked: { ja: '暗証番号がロックされています。市区町村の窓口で暗証番号の再設定をしてください。', en: 'The PIN is locked. Please have it reset at your municipal office counter.' },
  card_error: { ja: 'カードとの通信でエラーが起きました。カードを置き直して、もう一度お試しください。', en: 'Communication with the card failed. Please place the card again and retry.' },
  apdu_forbidden: { ja: 'このカードへの操作は許可されていません。', en: 'This card operation is not allowed.' },
} satisfies Record<string, Messages>;

export type CardErrorCode = keyof typeof catalogue;

export class CardError extends Error {
  readonly messages: Messages;

  constructor(readonly code: CardErrorCode, readonly details: { triesLeft?: number; sw?: string } = {}) {
    const fill = (text: string) => text.replace('{tries}', String(details.triesLeft ?? ''));
    const messages = { ja: fill(catalogue[code].ja), en: fill(catalogue[code].en) };
    super(`${code}: ${messages.en}`);
    this.messages = messages;
  }
}
