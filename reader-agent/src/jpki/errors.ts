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
  pin_wrong: { ja: '暗証番号が違います。残り{tries}回間違えるとロックされます。', en: 'Wrong PIN. The card locks after {tries} more wrong tries.' },
  pin_last_try: { ja: '暗証番号が違います。次に間違えるとカードがロックされます。ご注意ください。', en: 'Wrong PIN. One more wrong try will lock the card. Please take care.' },
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
