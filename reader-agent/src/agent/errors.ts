// What the agent itself refuses, in Japanese and English: before the backend is asked, or
// before a PIN goes to the card. The card's own errors are in ../jpki/errors.ts.
import type { Messages } from '../jpki/errors.ts';

const agentMessages = {
  not_enrolled: {
    ja: 'このリーダーエージェントは端末として登録されていません。コンソールの「端末（カードリーダー）」で登録コードを発行し、npm run reader-agent -- enroll コード --backend サーバーのURL を実行してから、エージェントを起動し直してください。',
    en: 'This reader agent is not enrolled as a device. Issue an enrollment code under 端末（カードリーダー） / Card readers in the console, run npm run reader-agent -- enroll CODE --backend SERVER_URL, then restart the agent.',
  },
  challenge_not_canonical: {
    ja: 'サーバーから届いた確認要求が正しい形式ではないため、カードで署名しませんでした。サーバーのアドレスが正しいか、管理者に確認してください。',
    en: 'The challenge from the server is not in the expected form, so the card did not sign it. Please ask your administrator to check the server address.',
  },
  pin_needs_card_again: {
    ja: '前回の暗証番号が違っていたため、まだ暗証番号を受け付けられません。カードをいったんリーダーから外して、置き直してから入力してください（今回の暗証番号はカードに送っていません）。',
    en: 'The last PIN was wrong, so no PIN is taken yet: take the card off the reader and place it again, then enter the PIN (this one was not sent to the card).',
  },
  pin_one_try_left: {
    ja: '暗証番号の残り回数が1回のため、カードがロックされないよう、この端末では暗証番号を受け付けません（カードには送っていません）。市区町村の窓口で暗証番号の確認・再設定をしてください。',
    en: 'The PIN has one try left, so that the card does not lock this terminal takes no PIN for it (nothing was sent to the card). Please have the PIN checked or reset at your municipal office counter.',
  },
} satisfies Record<string, Messages>;

export type AgentErrorCode = keyof typeof agentMessages;

/** A card login the agent itself refuses: before the backend is asked, or before the PIN goes to the card. */
export class AgentError extends Error {
  readonly messages: Messages;

  constructor(readonly code: AgentErrorCode, detail?: string) {
    super(`${code}: ${agentMessages[code].en}${detail ? ` (${detail})` : ''}`);
    this.messages = agentMessages[code];
  }
}
