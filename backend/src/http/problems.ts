// Every failure a client sees is an RFC 9457 problem document with a stable `code` and a
// message in Japanese and English. The catalogue below is the one place codes are defined.

export interface Messages { ja: string; en: string }

interface ProblemKind { status: number; title: string; messages: Messages }

export const problemKinds = {
  request_invalid: { status: 400, title: 'Invalid request', messages: {
    ja: 'リクエストの内容に誤りがあります。入力を確認してください。',
    en: 'The request is not valid. Please check what was sent.' } },
  body_too_large: { status: 413, title: 'Request body too large', messages: {
    ja: '送信されたデータが大きすぎます。',
    en: 'The request body is too large.' } },
  unsupported_media_type: { status: 415, title: 'Unsupported media type', messages: {
    ja: 'JSON 形式（application/json）で送信してください。',
    en: 'Please send the request as JSON (application/json).' } },
  not_found: { status: 404, title: 'Not found', messages: {
    ja: 'お探しのものは見つかりませんでした。',
    en: 'Nothing was found at this address.' } },
  method_not_allowed: { status: 405, title: 'Method not allowed', messages: {
    ja: 'この操作はここでは使えません。',
    en: 'This operation is not allowed here.' } },
  idempotency_key_required: { status: 400, title: 'Idempotency-Key required', messages: {
    ja: '操作の重複を防ぐためのキー（Idempotency-Key）が必要です。',
    en: 'This operation needs an Idempotency-Key header, so that a retry is never applied twice.' } },
  idempotency_key_reused: { status: 409, title: 'Idempotency-Key reused', messages: {
    ja: 'この操作キーは別の内容の操作ですでに使われています。新しい操作には新しいキーを使ってください。',
    en: 'This Idempotency-Key was already used for a different request. Use a new key for a new operation.' } },
  staff_credentials_invalid: { status: 401, title: 'Sign-in failed', messages: {
    ja: 'ログインIDまたはパスワードが違います。',
    en: 'The login ID or password is incorrect.' } },
  staff_session_required: { status: 401, title: 'Sign-in required', messages: {
    ja: 'サインインしてください。',
    en: 'Please sign in.' } },
  staff_role_forbidden: { status: 403, title: 'Not for this console', messages: {
    ja: 'この操作は、あなたのコンソールでは行えません。',
    en: 'This operation is not available in your console.' } },
  device_enrollment_code_invalid: { status: 400, title: 'Enrollment code not valid', messages: {
    ja: '登録コードが正しくないか、有効期限（10分）が切れているか、すでに使われています。コンソールの「端末（カードリーダー）」で新しいコードを発行してください。',
    en: 'The enrollment code is wrong, has expired (codes last 10 minutes) or was already used. Issue a new code under "Card readers" in the console.' } },
  device_enrollment_rate_limited: { status: 429, title: 'Too many failed enrollments', messages: {
    ja: '登録コードの誤りが続いたため、しばらく登録できません。時間をおいて、新しいコードでもう一度お試しください。',
    en: 'Too many wrong enrollment codes. Please wait a while, then try again with a new code.' } },
  device_unknown: { status: 401, title: 'Device not enrolled', messages: {
    ja: 'この端末は登録されていないか、登録が取り消されています。コンソールで登録コードを発行し、登録し直してください。',
    en: 'This device is not enrolled, or its enrollment was revoked. Issue an enrollment code in the console and enroll it again.' } },
  device_not_found: { status: 404, title: 'Device not found', messages: {
    ja: '指定された端末は見つかりませんでした。',
    en: 'The device was not found.' } },
  database_unavailable: { status: 503, title: 'Database unavailable', messages: {
    ja: 'ただいまシステムが混み合っているか停止しています。しばらくしてからもう一度お試しください。',
    en: 'The system is busy or down. Please try again in a moment.' } },
  internal_error: { status: 500, title: 'Internal error', messages: {
    ja: 'システムで問題が起きました。お問い合わせの際はリクエストIDをお伝えください。',
    en: 'Something went wrong in the system. Please quote the request ID if you contact us.' } },
} as const satisfies Record<string, ProblemKind>;

export type ProblemCode = keyof typeof problemKinds;

/** A failure meant for the client. `detail` is English and safe to show; `extra` adds members. */
export class Problem extends Error {
  readonly status: number;

  constructor(readonly code: ProblemCode, readonly detail?: string, readonly extra: Record<string, unknown> = {}) {
    super(detail ?? problemKinds[code].title);
    this.status = problemKinds[code].status;
  }
}

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ProblemCode;
  messages: Messages;
  requestId: string;
  instance: string;
  [extension: string]: unknown;
}

export function problemDocument(problem: Problem, requestId: string, instance: string): ProblemDocument {
  const kind = problemKinds[problem.code];
  return {
    ...problem.extra,
    type: `urn:mykey:problem:${problem.code}`,
    title: kind.title,
    status: kind.status,
    detail: problem.detail ?? kind.title,
    code: problem.code,
    messages: kind.messages,
    requestId,
    instance,
  };
}
