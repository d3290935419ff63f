export type Lang = 'ja' | 'en';

export const languages: readonly Lang[] = ['ja', 'en'];

// Each language is named in itself, so a reader who cannot read the current screen
// can still find their own language on the switch.
export const languageNames: Record<Lang, string> = {
  ja: '日本語',
  en: 'English',
};

const ja = {
  appTitle: 'MyKey プラットフォーム',
  skipToMain: '本文へ移動',
  languageSwitch: '表示言語',
  loading: '読み込み中…',

  signInHeading: 'スタッフのサインイン',
  signInIntro: '加盟店または自治体のスタッフ用アカウントでサインインしてください。',
  loginId: 'ログインID',
  password: 'パスワード',
  signIn: 'サインイン',
  signInFieldsRequired: 'ログインIDとパスワードを入力してください。',

  merchantConsole: '加盟店コンソール',
  municipalityConsole: '自治体コンソール',
  consoleNavigation: 'コンソールのメニュー',
  home: 'ホーム',
  merchantLabel: '加盟店',
  municipalityLabel: '自治体',
  staffLabel: '担当者',
  signOut: 'サインアウト',
  signedInAs: '{name} さんがサインインしています。',

  devices: '端末（カードリーダー）',
  devicesIntro: '窓口のパソコンで動くカードリーダーの常駐ソフト（リーダーエージェント）を、ここで発行する登録コードで登録します。登録した端末だけがカードでのログインに使えます。',
  deviceIssueHeading: '新しい端末を登録する',
  deviceName: '端末の名前',
  deviceNameHint: '例：窓口1番、レジ2',
  deviceNameRequired: '端末の名前を入力してください。',
  deviceIssueCode: '登録コードを発行',
  deviceCode: '登録コード',
  deviceCodeFor: '「{name}」の登録コード',
  deviceCodeValidUntil: '{time} まで有効です（10分間・1回だけ使えます）。',
  deviceCodeExpired: 'このコードは有効期限が切れました。新しいコードを発行してください。',
  deviceCodeCommand: '窓口のパソコンで、次のコマンドを実行してください。',
  deviceListHeading: '登録済みの端末',
  deviceListEmpty: '登録済みの端末はありません。',
  deviceListRefresh: '一覧を更新',
  deviceColumnName: '名前',
  deviceColumnStatus: '状態',
  deviceColumnEnrolled: '登録日時',
  deviceColumnLastSeen: '最終接続',
  deviceColumnActions: '操作',
  deviceStatusActive: '利用中',
  deviceStatusRevoked: '取り消し済み',
  deviceNeverSeen: '接続なし',
  deviceRevoke: '登録を取り消す',
  deviceRevokeConfirmHeading: '「{name}」の登録を取り消しますか？',
  deviceRevokeConfirmBody: '取り消すと、この端末からはカードを使った操作ができなくなります。もう一度使うには、新しい登録コードで登録し直してください。',
  deviceRevokeConfirm: '取り消す',
  deviceRevoked: '「{name}」の登録を取り消しました。',
  cancel: 'やめる',

  mykeys: 'マイキーID',
  mykeysIntro: '住民のマイキーIDを照会し、利用停止・利用再開や、窓口で本人確認をしたうえでの新しいカードの紐付けを行います。',
  mykeyIdLabel: 'マイキーID',
  mykeyIdHint: '8文字。例：RKLZ-Y5YR（小文字・ハイフン・全角でも入力できます）',
  mykeyLookUp: '照会',
  mykeyStatusLabel: '状態',
  mykeyStatusActive: '利用中',
  mykeyStatusSuspended: '利用停止中',
  mykeyIssuedAt: '発行日時',
  mykeySuspendedAt: '利用停止日時',
  mykeySuspendedBy: '利用停止した職員',
  mykeyReasonLabel: '理由',
  mykeyCardsHeading: 'カード',
  mykeyCardNumber: '{n}枚目',
  mykeyCardColumn: 'カード',
  mykeyCardStatus: '状態',
  mykeyCardMethod: '紐付け方法',
  mykeyCardLinked: '紐付け日時',
  mykeyCardEnded: '終了日時',
  mykeyCardActive: '利用中',
  mykeyCardReplaced: '新しいカードに切り替え済み',
  mykeyCardRevoked: '証明書失効',
  mykeyMethodIssued: '初回ログインで発行',
  mykeyMethodBothCards: '新旧カードで本人が紐付け',
  mykeyMethodLinkageFile: 'J-LIS 紐付けファイル',
  mykeyMethodCounter: '窓口で職員が紐付け',
  mykeyHistoryHeading: '履歴',
  mykeyHistoryEmpty: '履歴はありません。',
  mykeyHistoryWhen: '日時',
  mykeyHistoryWhat: '内容',
  mykeyHistoryWho: '実施者',
  mykeyHistoryDetail: '詳細',
  mykeyActionIssued: 'マイキーIDを発行',
  mykeyActionRelinked: '新しいカードを紐付け',
  mykeyActionSuspended: '利用停止',
  mykeyActionReinstated: '利用再開',
  mykeyActionRevoked: 'カードの証明書の失効を確認',
  mykeyActorDevice: '端末 #{id}',
  mykeyActorStaff: '職員 #{id}',
  mykeyActorSystem: 'システム（{id}）',
  mykeyActorResident: '本人',
  mykeyDetailLine: '{line}行目',
  mykeyDetailReason: '理由：{reason}',
  mykeySuspend: '利用停止',
  mykeyReinstate: '利用再開',
  mykeyRelink: '新しいカードを紐付け（窓口で本人確認済み）',
  mykeySuspendHeading: 'マイキーID {id} を利用停止しますか？',
  mykeySuspendBody: '利用停止すると、このマイキーIDのカードではログインできなくなります（紛失・不正利用の疑いなど）。',
  mykeyReinstateHeading: 'マイキーID {id} の利用を再開しますか？',
  mykeyReinstateBody: '再開すると、このマイキーIDの有効なカードで再びログインできるようになります。',
  mykeyRelinkHeading: 'マイキーID {id} に新しいカードを紐付けます',
  mykeyRelinkBody: '本人確認書類で本人であることを確認したうえで行ってください。これまでのカードは使えなくなり、新しいカードがこのマイキーIDで使えるようになります。',
  mykeyProofLabel: '新しいカードの確認ID（カード読み取りで得たID）',
  mykeyProofHint: 'この市の端末で、新しいカードを「窓口での紐付け」として読み取ったときに表示される43文字のIDです。リーダーエージェントとの自動連携までは、ここに入力してください。',
  mykeyProofRequired: 'カードの確認IDを入力してください。',
  mykeyReasonHint: '例：紛失による再交付。運転免許証で本人確認（200文字まで）',
  mykeyReasonRequired: '理由を入力してください（200文字まで）。',
  mykeyConfirmSuspend: '利用停止する',
  mykeyConfirmReinstate: '利用を再開する',
  mykeyConfirmRelink: '紐付ける',
  mykeyDoneSuspended: 'マイキーID {id} を利用停止しました。',
  mykeyDoneReinstated: 'マイキーID {id} の利用を再開しました。',
  mykeyDoneRelinked: 'マイキーID {id} に新しいカードを紐付けました。',

  systemStatus: 'システムの状態',
  systemReady: 'すべて正常に動作しています。',
  systemNotReady: '一部のサービスが利用できません。',
  checkMysql: 'データベース（MySQL）',
  checkRedis: 'Redis',
  checkMigrations: 'マイグレーション',
  checkOk: '正常',
  checkFailed: '異常',
  checkReason: '原因',
  checkedAt: '最終確認 {time}',
  refresh: '再確認',

  notFoundHeading: 'ページが見つかりません',
  notFoundBody: '「{path}」というページはありません。アドレスをご確認ください。',
  backToStart: 'トップページへ',

  connectionFailedHeading: 'サーバーに接続できません',
  tryAgain: 'もう一度試す',

  requestId: '問い合わせ番号（リクエストID）',
  errorNetwork: 'サーバーに接続できませんでした。ネットワークの接続を確認して、もう一度お試しください。',
  errorTimeout: 'サーバーの応答がありません。しばらく待ってから、もう一度お試しください。',
  errorUnexpectedResponse: 'サーバーから予期しない応答がありました（HTTP {status}）。',
} as const;

export type MessageKey = keyof typeof ja;

// Spelled out as a mapped type so a key missing from, or extra in, the English
// dictionary is a compile error rather than a blank on screen.
const en: { [K in MessageKey]: string } = {
  appTitle: 'MyKey Platform',
  skipToMain: 'Skip to main content',
  languageSwitch: 'Display language',
  loading: 'Loading…',

  signInHeading: 'Staff sign-in',
  signInIntro: 'Sign in with your merchant or municipality staff account.',
  loginId: 'Login ID',
  password: 'Password',
  signIn: 'Sign in',
  signInFieldsRequired: 'Enter your login ID and password.',

  merchantConsole: 'Merchant console',
  municipalityConsole: 'Municipality console',
  consoleNavigation: 'Console menu',
  home: 'Home',
  merchantLabel: 'Merchant',
  municipalityLabel: 'Municipality',
  staffLabel: 'Staff',
  signOut: 'Sign out',
  signedInAs: '{name} is signed in.',

  devices: 'Card readers',
  devicesIntro: 'Enroll the card reader agent of a counter PC with an enrollment code issued here. Only enrolled devices can be used for card login.',
  deviceIssueHeading: 'Enroll a new card reader',
  deviceName: 'Device name',
  deviceNameHint: 'e.g. Counter 1, Till 2',
  deviceNameRequired: 'Enter a name for the device.',
  deviceIssueCode: 'Issue enrollment code',
  deviceCode: 'Enrollment code',
  deviceCodeFor: 'Enrollment code for “{name}”',
  deviceCodeValidUntil: 'Valid until {time} (10 minutes, one use only).',
  deviceCodeExpired: 'This code has expired. Please issue a new one.',
  deviceCodeCommand: 'On the counter PC, run this command:',
  deviceListHeading: 'Enrolled card readers',
  deviceListEmpty: 'No card readers are enrolled.',
  deviceListRefresh: 'Refresh list',
  deviceColumnName: 'Name',
  deviceColumnStatus: 'Status',
  deviceColumnEnrolled: 'Enrolled',
  deviceColumnLastSeen: 'Last seen',
  deviceColumnActions: 'Actions',
  deviceStatusActive: 'Active',
  deviceStatusRevoked: 'Revoked',
  deviceNeverSeen: 'Never',
  deviceRevoke: 'Revoke',
  deviceRevokeConfirmHeading: 'Revoke “{name}”?',
  deviceRevokeConfirmBody: 'Once revoked, this device can no longer be used with cards. To use it again, enroll it with a new enrollment code.',
  deviceRevokeConfirm: 'Revoke',
  deviceRevoked: '“{name}” has been revoked.',
  cancel: 'Cancel',

  mykeys: 'MyKey IDs',
  mykeysIntro: "Look up a resident's MyKey ID, suspend or reinstate it, and link a new card after checking the person at the counter.",
  mykeyIdLabel: 'MyKey ID',
  mykeyIdHint: '8 characters, e.g. RKLZ-Y5YR (lower case, hyphens and full-width characters are fine)',
  mykeyLookUp: 'Look up',
  mykeyStatusLabel: 'Status',
  mykeyStatusActive: 'Active',
  mykeyStatusSuspended: 'Suspended',
  mykeyIssuedAt: 'Issued',
  mykeySuspendedAt: 'Suspended at',
  mykeySuspendedBy: 'Suspended by',
  mykeyReasonLabel: 'Reason',
  mykeyCardsHeading: 'Cards',
  mykeyCardNumber: 'Card {n}',
  mykeyCardColumn: 'Card',
  mykeyCardStatus: 'Status',
  mykeyCardMethod: 'Linked by',
  mykeyCardLinked: 'Linked',
  mykeyCardEnded: 'Ended',
  mykeyCardActive: 'In use',
  mykeyCardReplaced: 'Replaced by a newer card',
  mykeyCardRevoked: 'Certificate revoked',
  mykeyMethodIssued: 'Issued at first login',
  mykeyMethodBothCards: 'Resident, with old and new card',
  mykeyMethodLinkageFile: 'J-LIS linkage file',
  mykeyMethodCounter: 'Staff at the counter',
  mykeyHistoryHeading: 'History',
  mykeyHistoryEmpty: 'No history.',
  mykeyHistoryWhen: 'When',
  mykeyHistoryWhat: 'What',
  mykeyHistoryWho: 'By',
  mykeyHistoryDetail: 'Details',
  mykeyActionIssued: 'MyKey ID issued',
  mykeyActionRelinked: 'New card linked',
  mykeyActionSuspended: 'Suspended',
  mykeyActionReinstated: 'Reinstated',
  mykeyActionRevoked: "Card's certificate found revoked",
  mykeyActorDevice: 'Device #{id}',
  mykeyActorStaff: 'Staff #{id}',
  mykeyActorSystem: 'System ({id})',
  mykeyActorResident: 'Resident',
  mykeyDetailLine: 'line {line}',
  mykeyDetailReason: 'Reason: {reason}',
  mykeySuspend: 'Suspend',
  mykeyReinstate: 'Reinstate',
  mykeyRelink: 'Link a new card (person checked at the counter)',
  mykeySuspendHeading: 'Suspend MyKey ID {id}?',
  mykeySuspendBody: "Once suspended, this MyKey ID's cards can no longer log in (for a lost card, suspected fraud and the like).",
  mykeyReinstateHeading: 'Reinstate MyKey ID {id}?',
  mykeyReinstateBody: "Once reinstated, this MyKey ID's valid card can log in again.",
  mykeyRelinkHeading: 'Link a new card to MyKey ID {id}',
  mykeyRelinkBody: "Do this only after checking the person's identity documents. The earlier card stops working and the new card is used with this MyKey ID.",
  mykeyProofLabel: "New card's proof ID (from reading the card)",
  mykeyProofHint: 'The 43-character ID shown when the new card is read for a counter link at one of this municipality\'s devices. Enter it here until the reader agent fills it in.',
  mykeyProofRequired: "Enter the card's proof ID.",
  mykeyReasonHint: 'e.g. Reissued after loss; checked with driving licence (up to 200 characters)',
  mykeyReasonRequired: 'Enter a reason (up to 200 characters).',
  mykeyConfirmSuspend: 'Suspend',
  mykeyConfirmReinstate: 'Reinstate',
  mykeyConfirmRelink: 'Link the card',
  mykeyDoneSuspended: 'MyKey ID {id} is suspended.',
  mykeyDoneReinstated: 'MyKey ID {id} is reinstated.',
  mykeyDoneRelinked: 'A new card is linked to MyKey ID {id}.',

  systemStatus: 'System status',
  systemReady: 'Everything is working.',
  systemNotReady: 'Some services are unavailable.',
  checkMysql: 'Database (MySQL)',
  checkRedis: 'Redis',
  checkMigrations: 'Migrations',
  checkOk: 'OK',
  checkFailed: 'Failed',
  checkReason: 'Reason',
  checkedAt: 'Last checked {time}',
  refresh: 'Check again',

  notFoundHeading: 'Page not found',
  notFoundBody: 'There is no page at “{path}”. Please check the address.',
  backToStart: 'Go to the start page',

  connectionFailedHeading: 'Cannot reach the server',
  tryAgain: 'Try again',

  requestId: 'Request ID',
  errorNetwork: 'Could not connect to the server. Check the network connection and try again.',
  errorTimeout: 'The server did not answer. Please wait a moment and try again.',
  errorUnexpectedResponse: 'The server sent an unexpected answer (HTTP {status}).',
};

const dictionaries: Record<Lang, { [K in MessageKey]: string }> = { ja, en };

export type Params = Record<string, string | number>;
export type Bilingual = Record<Lang, string>;

const storageKey = 'mykey.lang';

function isLang(value: unknown): value is Lang {
  return value === 'ja' || value === 'en';
}

// Storage can throw (blocked cookies, private modes); the language then simply is not remembered.
function readStoredLang(): Lang {
  try {
    const stored = localStorage.getItem(storageKey);
    return isLang(stored) ? stored : 'ja';
  } catch {
    return 'ja';
  }
}

function storeLang(lang: Lang): void {
  try {
    localStorage.setItem(storageKey, lang);
  } catch {
    // Not remembering the choice is acceptable; failing the switch is not.
  }
}

class Locale {
  current: Lang = $state(readStoredLang());
}

export const locale = new Locale();

function format(template: string, params: Params | undefined): string {
  if (params === undefined) return template;
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const value = params[name];
    return value === undefined ? whole : String(value);
  });
}

export function t(key: MessageKey, params?: Params): string {
  return format(dictionaries[locale.current][key], params);
}

// For messages built outside the UI (such as client-side errors) that must later be
// shown in whichever language is current when they are displayed.
export function inBothLanguages(key: MessageKey, params?: Params): Bilingual {
  return {
    ja: format(dictionaries.ja[key], params),
    en: format(dictionaries.en[key], params),
  };
}

export function applyLangToDocument(): void {
  document.documentElement.lang = locale.current;
  document.title = t('appTitle');
}

export function setLang(lang: Lang): void {
  locale.current = lang;
  storeLang(lang);
  applyLangToDocument();
}
