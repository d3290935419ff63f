// Every failure a client sees is an RFC 9457 problem document with a stable `code` and a
// message in Japanese and English. The catalogue below is the one place codes are defined: the
// backend answers with them (backend/src/http/problems.ts), the console and the reader agent read them.

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
  staff_sign_in_delayed: { status: 429, title: 'Sign-in paused after failures', messages: {
    ja: 'サインインの失敗が続いたため、しばらく待ってからもう一度お試しください。',
    en: 'Several sign-ins failed. Please wait a moment before trying again.' } },
  staff_sign_in_locked: { status: 429, title: 'Sign-in locked after repeated failures', messages: {
    ja: 'サインインの失敗が続いたため、一時的にロックしました。15分ほど待ってからお試しください。心当たりがなければ管理者に連絡してください。',
    en: 'Sign-in is locked for a while after repeated failures. Please try again in about 15 minutes, and tell your administrator if it was not you.' } },
  staff_sign_in_unavailable: { status: 503, title: 'Sign-in temporarily unavailable', messages: {
    ja: '現在サインインできません。しばらく待ってから、もう一度お試しください。',
    en: 'Sign-in is not available at the moment. Please wait a little and try again.' } },
  staff_sign_in_insecure: { status: 403, title: 'Sign-in needs HTTPS', messages: {
    ja: '安全な接続（HTTPS）でのみサインインできます。',
    en: 'Sign-in works only over a secure connection (HTTPS).' } },
  staff_second_factor_invalid: { status: 401, title: 'Second factor not accepted', messages: {
    ja: '確認コードが違うか、すでに使われています。認証アプリに表示されている新しいコード、または未使用のリカバリーコードを入力してください。',
    en: 'The code is wrong or was already used. Enter the current code from your authenticator app, or an unused recovery code.' } },
  staff_totp_code_invalid: { status: 400, title: 'Authenticator code does not match', messages: {
    ja: '確認コードが一致しません。認証アプリに表示されている6桁のコードを入力してください。スマートフォンの時刻が正しいかも確認してください。',
    en: 'The code does not match. Enter the 6-digit code your authenticator app shows, and check that the phone\'s clock is right.' } },
  staff_totp_already_enrolled: { status: 409, title: 'Second factor already set up', messages: {
    ja: '二段階認証はすでに設定されています。',
    en: 'Two-step verification is already set up for this account.' } },
  staff_totp_enrolment_not_started: { status: 409, title: 'Enrolment not started', messages: {
    ja: '二段階認証の設定を最初からやり直してください。',
    en: 'Please start setting up two-step verification again.' } },
  staff_current_password_wrong: { status: 403, title: 'Current password is wrong', messages: {
    ja: '現在のパスワードが違います。',
    en: 'The current password is incorrect.' } },
  staff_password_too_short: { status: 400, title: 'Password too short', messages: {
    ja: 'パスワードは12文字以上にしてください。覚えやすい長い文（パスフレーズ）がおすすめです。',
    en: 'The password must be at least 12 characters. A long phrase you can remember works well.' } },
  staff_password_common: { status: 400, title: 'Password too common', messages: {
    ja: 'このパスワードはよく使われていて推測されやすいため、使えません。別のパスワードにしてください。',
    en: 'This password is too common and easy to guess. Please choose another.' } },
  staff_session_required: { status: 401, title: 'Sign-in required', messages: {
    ja: 'サインインしてください。',
    en: 'Please sign in.' } },
  staff_role_forbidden: { status: 403, title: 'Not allowed for this role', messages: {
    ja: 'あなたのアカウントの役割では、この操作は行えません。業務で必要なときは、所属先の管理者（店舗ではオーナー）に役割を相談してください。',
    en: 'Your account\'s roles do not allow this action. If your work needs it, ask your administrator (at a shop, its owner) about your roles.' } },
  // The life of a staff account (docs/security/staff.md#the-life-of-an-account).
  staff_account_disabled: { status: 403, title: 'Account disabled', messages: {
    ja: 'このアカウントは無効にされています。管理者に連絡してください。',
    en: 'This account has been disabled. Please contact your administrator.' } },
  staff_account_not_found: { status: 404, title: 'Staff account not found', messages: {
    ja: 'この職員アカウントは見つかりませんでした。',
    en: 'There is no such staff account.' } },
  staff_last_administrator: { status: 409, title: 'Last administrator', messages: {
    ja: '最後の管理者（店舗ではオーナー）は外せません。先に別の人に管理者の役割を付けてください。',
    en: 'The last administrator (a shop\'s last owner) cannot be removed. Give someone else the role first.' } },
  staff_shop_has_owner: { status: 409, title: 'Shop already has an owner', messages: {
    ja: 'この店舗にはすでにオーナーがいます。店員の招待は店舗のオーナーが行います。',
    en: 'This shop already has an owner, who invites its staff.' } },
  staff_invitation_not_found: { status: 404, title: 'Invitation not found', messages: {
    ja: 'この招待は見つかりませんでした。すでに使われたか、取り消されたか、期限が切れています。',
    en: 'There is no such open invitation: it was used, cancelled or has expired.' } },
  staff_invitation_invalid: { status: 400, title: 'Invitation code not valid', messages: {
    ja: '招待コードが正しくないか、期限切れか、すでに使われています。招待した人に新しいコードを発行してもらってください。',
    en: 'The invitation code is wrong, expired or already used. Please ask whoever invited you for a new code.' } },
  staff_invitation_rate_limited: { status: 429, title: 'Too many wrong invitation codes', messages: {
    ja: '招待コードの誤りが続いたため、しばらく待ってからお試しください。',
    en: 'Too many wrong invitation codes. Please wait a while before trying again.' } },
  staff_login_taken: { status: 409, title: 'Login ID taken', messages: {
    ja: 'このログインIDはすでに使われています。別のログインIDを選んでください。',
    en: 'This login ID is already taken. Please choose another.' } },
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
  challenge_unknown: { status: 400, title: 'Unknown challenge', messages: {
    ja: 'この確認要求は見つかりません。もう一度カードをかざしてやり直してください。',
    en: 'This challenge is unknown. Please tap the card again to start over.' } },
  challenge_expired: { status: 400, title: 'Challenge expired', messages: {
    ja: '確認の有効時間（60秒）が過ぎました。もう一度カードをかざしてください。',
    en: 'The challenge expired (it lasts 60 seconds). Please tap the card again.' } },
  challenge_reused: { status: 409, title: 'Challenge already used', messages: {
    ja: 'この確認要求はすでに使われています。もう一度カードをかざしてやり直してください。',
    en: 'This challenge was already used. Please tap the card again to start over.' } },
  card_proof_unknown: { status: 400, title: 'No such card proof', messages: {
    ja: 'カードによる本人確認が見つかりません。もう一度カードをかざしてください。',
    en: 'No such proof of the card was found. Please tap the card again.' } },
  purpose_not_for_device: { status: 403, title: 'Not for this device', messages: {
    ja: 'この端末ではこの用途にカードを使えません。',
    en: 'A card cannot be used for this purpose at this device.' } },
  card_tap_not_allowed: { status: 403, title: 'A tap is not enough', messages: {
    ja: 'この用途ではカードをかざすだけでは進めません。暗証番号を入力してカードで確認してください。',
    en: 'A tap alone is not enough for this purpose. Please enter the card\'s PIN to confirm.' } },
  card_pin_not_allowed: { status: 403, title: 'A tap is wanted', messages: {
    ja: 'この用途では暗証番号は使いません。カードをかざしてください。',
    en: 'This purpose does not use the card\'s PIN. Please just tap the card.' } },
  journal_not_allowed: { status: 403, title: 'Not taken from a journal', messages: {
    ja: 'この用途のタッチは、通信が戻ってからまとめて送る記録としては受け付けられません。',
    en: 'Taps for this purpose are not taken later from a counter\'s journal.' } },
  journal_key_missing: { status: 409, title: 'No journal key', messages: {
    ja: 'この端末の記録用の鍵がまだ登録されていません。カードリーダーのプログラムを起動し直してください。',
    en: 'This device has not registered its journal key yet. Please restart the card reader agent.' } },
  journal_key_taken: { status: 409, title: 'Another journal key', messages: {
    ja: 'この端末には別の記録用の鍵が登録されています。端末を登録し直してください。',
    en: 'Another journal key is registered for this device. Please enroll the device again.' } },
  journal_signature_invalid: { status: 401, title: 'Journal entry not signed by this device', messages: {
    ja: 'この記録がこの端末の署名したものであることを確かめられませんでした。記録は受け付けられません。',
    en: 'This journal entry could not be verified as signed by this device; it is not taken.' } },
  journal_entry_out_of_time: { status: 422, title: 'Journal entry out of time', messages: {
    ja: 'この記録の時刻は受け付けられる範囲（14日前から今まで）の外です。端末の時計を確認してください。',
    en: 'This entry\'s time is outside what is taken (from 14 days ago until now). Please check the counter PC\'s clock.' } },
  signature_invalid: { status: 401, title: 'Signature not valid', messages: {
    ja: 'カードの署名を確認できませんでした。もう一度カードをかざしてください。',
    en: 'The card\'s signature could not be verified. Please tap the card again.' } },
  certificate_malformed: { status: 400, title: 'Certificate malformed', messages: {
    ja: 'カードの証明書を読み取れませんでした。カードを置き直してもう一度お試しください。',
    en: 'The card\'s certificate could not be read. Please place the card again and retry.' } },
  certificate_wrong_type: { status: 400, title: 'Wrong certificate', messages: {
    ja: '利用者証明用電子証明書ではありません。マイナンバーカードの利用者証明用証明書をお使いください。',
    en: 'This is not a user-authentication certificate. Please use the My Number card\'s user-authentication certificate.' } },
  certificate_key_weak: { status: 400, title: 'Certificate key too weak', messages: {
    ja: 'この証明書の鍵は安全性の基準を満たしていないため使えません。',
    en: 'This certificate\'s key does not meet the security requirements.' } },
  certificate_untrusted: { status: 401, title: 'Certificate not trusted', messages: {
    ja: 'この証明書は信頼できる発行元のものではありません。',
    en: 'This certificate was not issued by a trusted authority.' } },
  certificate_not_yet_valid: { status: 401, title: 'Certificate not yet valid', messages: {
    ja: 'この証明書はまだ有効期間が始まっていません。',
    en: 'This certificate is not valid yet.' } },
  certificate_expired: { status: 401, title: 'Certificate expired', messages: {
    ja: 'このカードの電子証明書の有効期限が切れています。市区町村の窓口で電子証明書を更新してください。',
    en: 'This card\'s electronic certificate has expired. Please renew it at your municipal office.' } },
  certificate_revoked: { status: 401, title: 'Certificate revoked', messages: {
    ja: 'このカードの電子証明書は失効していて、使えません。市区町村の窓口で電子証明書を発行し直すか、カードを新しくしてください。新しいカードをお持ちの場合は、窓口でそのカードをマイキーIDにつないでもらってください。',
    en: 'This card\'s electronic certificate has been revoked and can no longer be used. Please have it reissued, or get a new card, at your municipal office. If you already have a new card, ask at the counter to have it linked to your MyKey ID.' } },
  certificate_revocation_unknown: { status: 503, title: 'Revocation status unknown', messages: {
    ja: 'いまはカードの電子証明書が使えるものかどうかを確かめられないため、この操作はできません。しばらくしてからもう一度お試しください。',
    en: 'Whether the card\'s electronic certificate is still valid cannot be checked right now, so this cannot be done. Please try again later.' } },
  certificate_replaced: { status: 401, title: 'Card replaced', messages: {
    ja: 'このカードは新しいカードに切り替え済みです。新しいカードをお使いください。',
    en: 'This card has been replaced by a newer card. Please use the new card.' } },
  mykey_suspended: { status: 403, title: 'MyKey ID suspended', messages: {
    ja: 'このマイキーIDは利用停止中です。市区町村の窓口にお問い合わせください。',
    en: 'This MyKey ID is suspended. Please contact your municipal office.' } },
  mykey_blocked_here: { status: 403, title: 'MyKey ID blocked in this municipality', messages: {
    ja: 'このマイキーIDは、この自治体のサービス（店舗での支払い、ポイントの付与、窓口の端末）では利用できないよう設定されています。この自治体の窓口にお問い合わせください。',
    en: 'This MyKey ID is blocked from this municipality\'s services (payments at its shops, its points, its counter devices). Please ask at this municipality\'s office.' } },
  mykey_id_malformed: { status: 400, title: 'MyKey ID malformed', messages: {
    ja: 'マイキーIDの形式が正しくありません。マイキーIDは8文字（数字の2〜9と、IとOを除く英大文字）です。',
    en: 'This is not a MyKey ID. A MyKey ID has 8 characters: the digits 2-9 and the letters A-Z without I and O.' } },
  mykey_id_check_failed: { status: 400, title: 'MyKey ID check failed', messages: {
    ja: 'マイキーIDの確認文字が一致しません。1文字の打ち間違いか、隣り合う2文字の入れ替わりがあります。もう一度ご確認ください。',
    en: 'The MyKey ID\'s check character does not match: a character is mistyped or two neighbours are swapped. Please check it again.' } },
  mykey_not_found: { status: 404, title: 'MyKey ID not found', messages: {
    ja: 'このマイキーIDは登録されていません。',
    en: 'There is no such MyKey ID.' } },
  mykey_already_suspended: { status: 409, title: 'MyKey ID already suspended', messages: {
    ja: 'このマイキーIDはすでに利用停止中です。画面を更新して状態をご確認ください。',
    en: 'This MyKey ID is already suspended. Please reload to see its current state.' } },
  mykey_not_suspended: { status: 409, title: 'MyKey ID not suspended', messages: {
    ja: 'このマイキーIDは利用停止中ではありません。画面を更新して状態をご確認ください。',
    en: 'This MyKey ID is not suspended. Please reload to see its current state.' } },
  mykey_already_blocked: { status: 409, title: 'MyKey ID already blocked here', messages: {
    ja: 'このマイキーIDは、この自治体ではすでに利用を止めています。画面を更新して状態をご確認ください。',
    en: 'This MyKey ID is already blocked in this municipality. Please reload to see its current state.' } },
  mykey_not_blocked: { status: 409, title: 'MyKey ID not blocked here', messages: {
    ja: 'このマイキーIDは、この自治体では利用を止めていません。画面を更新して状態をご確認ください。',
    en: 'This MyKey ID is not blocked in this municipality. Please reload to see its current state.' } },
  mykey_home_unchanged: { status: 409, title: 'Already the home municipality', messages: {
    ja: 'このマイキーIDの所属自治体は、すでにこの端末の自治体です。',
    en: 'This MyKey ID already belongs to this device\'s municipality.' } },
  card_already_linked: { status: 409, title: 'Card already linked', messages: {
    ja: '新しいカードはすでにマイキーIDに紐付いています。2つのマイキーIDをここで統合することはできません。市区町村の窓口にご相談ください。',
    en: 'The new card is already linked to a MyKey ID. Two MyKey IDs cannot be merged here; please ask at the municipal office.' } },
  card_not_linked: { status: 409, title: 'Old card has no MyKey ID', messages: {
    ja: '古いカードにはマイキーIDがありません。新しいカードでそのままログインしてください。',
    en: 'The old card has no MyKey ID. Please simply log in with the new card.' } },
  // Points (the ledger, docs/ledger.md).
  points_out_of_range: { status: 400, title: 'Points out of range', messages: {
    ja: 'ポイント数は1以上の整数で、上限以内で指定してください。',
    en: 'The number of points must be a whole number of at least 1, within the limit.' } },
  insufficient_points: { status: 409, title: 'Not enough points', messages: {
    ja: 'ポイント残高が足りません。使えるポイントは availablePoints に示した数です。',
    en: 'There are not enough points. The points that can be used are given in availablePoints.' } },
  points_too_fragmented: { status: 409, title: 'Points in too many lots', messages: {
    ja: 'ポイントが多数の小口に分かれているため、一度に使えません。金額を分けてお支払いください。',
    en: 'The points are split into too many small lots to be spent at once. Please pay in several smaller amounts.' } },
  ledger_reference_reused: { status: 409, title: 'Reference already used', messages: {
    ja: 'この取引番号はすでに別の内容の取引で使われています。新しい取引には新しい番号を使ってください。',
    en: 'This transaction reference was already used for a different transaction. Use a new reference for a new transaction.' } },
  municipality_not_found: { status: 404, title: 'Municipality not found', messages: {
    ja: '指定された自治体は登録されていません。',
    en: 'The municipality is not registered.' } },
  merchant_not_found: { status: 404, title: 'Merchant not found', messages: {
    ja: '指定された加盟店は見つかりませんでした。',
    en: 'The merchant was not found.' } },
  partner_not_found: { status: 404, title: 'Partner not found', messages: {
    ja: '指定された提携事業者は見つかりませんでした。',
    en: 'The partner was not found.' } },
  partner_agreement_exists: { status: 409, title: 'Agreement already in force', messages: {
    ja: 'この事業者とはすでに提携中です。条件を変えるには、いまの提携を終了してから追加してください。',
    en: 'There is already an active agreement with this partner. End it first to add one with other terms.' } },
  partner_agreement_not_found: { status: 404, title: 'Agreement not found', messages: {
    ja: 'この提携は見つからないか、すでに終了しています。',
    en: 'There is no such active agreement.' } },
  partner_agreement_missing: { status: 403, title: 'No agreement with this municipality', messages: {
    ja: 'この自治体とは提携の契約が結ばれていないか、契約期間外です。この自治体のポイントには交換できません。',
    en: 'There is no agreement in force with this municipality, so points cannot be converted into its points.' } },
  campaign_not_found: { status: 404, title: 'Campaign not found', messages: {
    ja: '指定されたキャンペーンは、この自治体にはありません。',
    en: 'This municipality has no such campaign.' } },
  campaign_not_running: { status: 409, title: 'Campaign not running', messages: {
    ja: 'このキャンペーンは実施中ではありません（期間外、一時停止中または終了）。',
    en: 'This campaign is not running now (outside its dates, paused or ended).' } },
  campaign_kind_mismatch: { status: 409, title: 'Campaign of another kind', messages: {
    ja: 'このキャンペーンはこの用途には使えません。行政ポイントは行政ポイントのキャンペーンから、行事のポイントは行事ポイントのキャンペーンから付与します。',
    en: 'This campaign cannot pay for this. Administrative points come from an administrative campaign, event points from an event campaign.' } },
  campaign_not_planned: { status: 409, title: 'Campaign already started', messages: {
    ja: '開始したキャンペーンの条件は変更できません。開始前（計画中）のキャンペーンだけが編集できます。',
    en: 'A campaign\'s terms cannot change once it has started. Only a planned campaign can be edited.' } },
  campaign_status_invalid: { status: 409, title: 'Not possible in the campaign\'s status', messages: {
    ja: 'キャンペーンの現在の状態では、この操作はできません。画面を更新して状態を確認してください。',
    en: 'This cannot be done in the campaign\'s current status. Reload to see its status.' } },
  campaign_version_conflict: { status: 409, title: 'Campaign changed meanwhile', messages: {
    ja: '編集中に別の職員がこのキャンペーンを変更しました。変更された項目は changes に示しています。内容を確認してから、もう一度保存してください。',
    en: 'Another staff member changed this campaign while you were editing it. What they changed is listed in changes. Check it, then save again.' } },
  campaign_budget_insufficient: { status: 409, title: 'Campaign budget insufficient', messages: {
    ja: 'キャンペーンの予算が足りません。残りの予算は availablePoints に示したポイント数です。',
    en: 'The campaign budget is not enough. What is left of it is given in availablePoints.' } },
  campaign_cap_exceeded: { status: 409, title: 'Per-resident cap exceeded', messages: {
    ja: 'この方へのキャンペーンの付与上限を超えます。あと付与できるのは remainingPoints に示したポイント数です。',
    en: 'This would exceed the campaign\'s cap per resident. What can still be granted is given in remainingPoints.' } },
  campaign_funding_exceeds_budget: { status: 409, title: 'Funding exceeds the budget', messages: {
    ja: 'キャンペーンの予算額を超えて資金を入れることはできません。まだ入れられるのは unfundedPoints に示した額です。',
    en: 'A campaign cannot be funded beyond its budget. What can still be funded is given in unfundedPoints.' } },
  payment_not_found: { status: 404, title: 'Payment not found', messages: {
    ja: '指定された支払いは見つかりませんでした。',
    en: 'The payment was not found.' } },
  refund_exceeds_payment: { status: 409, title: 'Refund exceeds the payment', messages: {
    ja: '返金額が、支払額からこれまでの返金を引いた額を超えています。返金できるのは refundablePoints に示したポイント数です。',
    en: 'The refund exceeds the payment less earlier refunds. What can be refunded is given in refundablePoints.' } },
  void_window_closed: { status: 409, title: 'Too late to void', messages: {
    ja: '取消は支払った当日のみできます。返金をご利用ください。',
    en: 'A payment can be voided only on the day it was made. Please refund it instead.' } },
  payment_already_reversed: { status: 409, title: 'Payment already refunded', messages: {
    ja: 'この支払いはすでに返金または取消されているため、取消できません。',
    en: 'This payment was already refunded or voided, so it cannot be voided.' } },
  // Counter redemption (docs/payments.md).
  payment_intent_not_found: { status: 404, title: 'Payment not found', messages: {
    ja: 'この支払い（レジの請求）は見つかりません。レジで金額を入力し直してください。',
    en: 'This payment request was not found. Please enter the amount at the register again.' } },
  payment_intent_not_open: { status: 409, title: 'Payment no longer open', messages: {
    ja: 'この支払いはすでに支払い済み、取消済み、または有効時間切れです（intentStatus を参照）。支払い済みならレシート番号は receiptNo です。',
    en: 'This payment is already paid, cancelled or expired (see intentStatus). If it was paid, its receipt number is receiptNo.' } },
  merchant_not_approved: { status: 403, title: 'Shop not approved', messages: {
    ja: 'この加盟店はポイントでの支払いを受け付けられる状態ではありません（未承認または停止中）。自治体にお問い合わせください。',
    en: 'This shop cannot accept points now (not approved, or suspended). Please contact the municipality.' } },
  card_not_registered: { status: 409, title: 'Card not registered', messages: {
    ja: 'このカードはまだマイキーIDに登録されていないため、ポイントがありません。窓口などで一度ログインしてから、ポイントを受け取ってください。',
    en: 'This card has no MyKey ID yet, so it holds no points. Log in once (at a municipal counter, say) and receive points first.' } },
  // Grants by municipal staff and settlement statements (docs/ledger.md "Grants", docs/settlement.md).
  grant_reason_invalid: { status: 400, title: 'Grant reason missing', messages: {
    ja: '付与の理由を1行・200文字以内で入力してください。',
    en: 'Give the reason for the grant: one line, up to 200 characters.' } },
  grant_line_malformed: { status: 400, title: 'Line not readable', messages: {
    ja: 'この行を読み取れません。1行は mykey_id,points,reason の3列です（理由にコンマを含む場合は " で囲みます）。',
    en: 'This line cannot be read. A line has three columns, mykey_id,points,reason (quote a reason that contains a comma with ").' } },
  grant_file_media_type: { status: 415, title: 'Not a CSV file', messages: {
    ja: 'CSV ファイル（text/csv）を送信してください。',
    en: 'Please send a CSV file (text/csv).' } },
  grant_file_not_utf8: { status: 400, title: 'File not UTF-8', messages: {
    ja: 'ファイルの文字コードが UTF-8 ではありません（Shift_JIS の可能性があります）。Excel では「CSV UTF-8（コンマ区切り）」形式で保存し直してください。何も付与していません。',
    en: 'The file is not UTF-8 (it may be Shift_JIS). In Excel, save it again as "CSV UTF-8 (Comma delimited)". Nothing was granted.' } },
  grant_file_not_csv: { status: 400, title: 'File not CSV', messages: {
    ja: 'ファイルを CSV として読み取れません。示された行から始まる行を確認してください（" で始めた欄は " で閉じ、欄の中の " は "" と2つ重ねます）。何も付与していません。',
    en: 'The file cannot be read as CSV. Check the record starting on the line shown (a field opened with " must be closed with ", and a " inside a field is doubled as ""). Nothing was granted.' } },
  grant_file_header_invalid: { status: 400, title: 'File header not valid', messages: {
    ja: 'ファイルの1行目は見出し mykey_id,points,reason でなければなりません。何も付与していません。',
    en: 'The first line of the file must be the header mykey_id,points,reason. Nothing was granted.' } },
  grant_file_too_many_lines: { status: 413, title: 'File too long', messages: {
    ja: 'ファイルの行数が上限（100,000行）を超えています。ファイルを分けて送信してください。何も付与していません。',
    en: 'The file has more lines than allowed (100,000). Please split it into several files. Nothing was granted.' } },
  grant_upload_not_found: { status: 404, title: 'Upload not found', messages: {
    ja: '指定された付与ファイルの処理結果は見つかりませんでした。',
    en: 'No such grant file upload was found.' } },
  settlement_period_invalid: { status: 400, title: 'Period not valid', messages: {
    ja: '期間の指定が正しくありません。開始日と終了日を YYYY-MM-DD で、開始日 ≦ 終了日、1年（366日）以内で指定してください。',
    en: 'The period is not valid. Give from and to as YYYY-MM-DD, from on or before to, at most a year (366 days).' } },
  // Closed settlement periods and the Zengin transfer file (docs/settlement.md#closed-periods).
  settlement_period_not_found: { status: 404, title: 'Settlement period not found', messages: {
    ja: '指定された締め済みの精算期間は見つかりませんでした。',
    en: 'No such closed settlement period was found.' } },
  settlement_period_not_next: { status: 409, title: 'Not the next period', messages: {
    ja: '精算期間は、前回締めた期間の翌日から始めてください（期間の空白や重なりはできません）。',
    en: 'A settlement period starts the day after the last closed one ends: periods have no gaps and no overlaps.' } },
  settlement_period_not_over: { status: 409, title: 'Period not over yet', messages: {
    ja: '終了日が過ぎていない期間は締められません。終了日の翌日以降に締めてください。',
    en: 'A period can be closed only after its last day is over (Japan time).' } },
  settlement_pay_date_invalid: { status: 400, title: 'Payment date not valid', messages: {
    ja: '振込指定日を YYYY-MM-DD で、期間の終了日より後の日付で指定してください。',
    en: 'Give the payment date as YYYY-MM-DD, after the last day of the period.' } },
  settlement_payer_missing: { status: 409, title: 'Payer not set', messages: {
    ja: '振込依頼人（市の口座と依頼人コード）が設定されていないため、振込ファイルを作れません。管理者が設定してください。',
    en: "The city's payer details (requester code and account) are not set, so no transfer file can be made. An administrator must set them." } },
  settlement_payer_invalid: { status: 400, title: 'Payer details not valid', messages: {
    ja: '振込依頼人の設定に誤りがあります。コードは数字、名称は半角カナ・英大文字・数字で書ける文字で入力してください。',
    en: 'The payer details are not valid: codes are digits, and names must be writable in half-width katakana, upper-case letters and digits.' } },
  settlement_transfer_unwritable: { status: 409, title: 'Transfer file cannot be written', messages: {
    ja: '振込ファイルを作れません。口座が登録されていない、または口座名義などを半角カナで書けない加盟店があります（示された加盟店の口座情報を直してください）。',
    en: 'The transfer file cannot be written: a shop has no bank account, or a name of its account cannot be written in half-width katakana (correct the shops named).' } },
  // The partner API (docs/partner-api.md). An unknown partner and a wrong signature are one
  // code, so a caller without the secret cannot learn which partner ids exist.
  partner_signature_required: { status: 401, title: 'Signed request required', messages: {
    ja: 'X-MyKey-Partner、X-MyKey-Timestamp、X-MyKey-Signature の各ヘッダーで署名したリクエストを送ってください。',
    en: 'Send the request signed, with the X-MyKey-Partner, X-MyKey-Timestamp and X-MyKey-Signature headers.' } },
  partner_timestamp_out_of_range: { status: 401, title: 'Timestamp out of range', messages: {
    ja: 'X-MyKey-Timestamp が当方の時刻から300秒以上ずれているか、Unix 秒の整数ではありません。時計を合わせて、新しい時刻で署名し直してください。',
    en: 'X-MyKey-Timestamp is more than 300 seconds away from our clock, or not whole Unix seconds. Check your clock and sign again with the current time.' } },
  partner_signature_invalid: { status: 401, title: 'Signature not valid', messages: {
    ja: '署名を確認できませんでした。提携事業者ID、APIシークレット、署名の対象（時刻・メソッド・パス・本文のハッシュ）をご確認ください。',
    en: 'The signature could not be verified. Check the partner id, the API secret and what was signed (timestamp, method, path, body hash).' } },
  partner_suspended: { status: 403, title: 'Partner suspended', messages: {
    ja: 'この提携事業者の API 利用は停止されています。運営者にお問い合わせください。',
    en: 'This partner\'s API access is suspended. Please contact the operator.' } },
  conversion_conflict: { status: 409, title: 'partnerTxId already used', messages: {
    ja: 'この partnerTxId は別の内容の交換申請ですでに使われています。新しい申請には新しい partnerTxId を使ってください。',
    en: 'This partnerTxId was already used for a conversion with different content. Use a new partnerTxId for a new conversion.' } },
  conversion_below_minimum: { status: 400, title: 'Too few points to convert', messages: {
    ja: '交換レートで換算すると1ポイントに満たないため、交換できません。最低限必要な数は minimumPartnerPoints に示しています。',
    en: 'At the conversion rate this comes to less than 1 point. The smallest amount that converts is given in minimumPartnerPoints.' } },
  conversion_not_found: { status: 404, title: 'Conversion not found', messages: {
    ja: 'この partnerTxId の交換申請は見つかりませんでした。',
    en: 'There is no conversion with this partnerTxId.' } },
  batch_conflict: { status: 409, title: 'Batch id already used', messages: {
    ja: 'このバッチIDは別の内容のファイルですでに使われています。新しいファイルには新しいバッチIDを使ってください。',
    en: 'This batch id was already used for a file with different content. Use a new batch id for a new file.' } },
  batch_too_many_lines: { status: 413, title: 'Too many lines', messages: {
    ja: 'バッチファイルは100万行までです。ファイルを分けて送ってください。',
    en: 'A batch file may have at most 1,000,000 lines. Please split the file.' } },
  batch_headers_required: { status: 411, title: 'Declared length and hash required', messages: {
    ja: 'バッチファイルは、Content-Length と X-MyKey-Content-SHA256（本文の SHA-256、16進小文字64桁）を付け、それらを含めて署名して送ってください（chunked 転送は使えません）。',
    en: 'Send a batch file with Content-Length and X-MyKey-Content-SHA256 (the body\'s SHA-256, 64 lower-case hex digits), both signed; chunked transfer is not accepted.' } },
  batch_body_mismatch: { status: 400, title: 'Body does not match what was signed', messages: {
    ja: '受け取った本文が、署名された長さまたは SHA-256 と一致しません。何も保存していません。同じファイルをもう一度送ってください。',
    en: 'The body received does not match the signed length or SHA-256. Nothing was kept. Please upload the same file again.' } },
  batch_uploads_busy: { status: 429, title: 'Too many uploads at once', messages: {
    ja: '同時に送信できるバッチファイルの数を超えています。送信中のファイルが終わってから、Retry-After 秒後にもう一度送ってください。',
    en: 'Too many batch files are being uploaded at once. Upload again after Retry-After seconds, once one in progress has finished.' } },
  batch_upload_unavailable: { status: 503, title: 'Cannot take an upload now', messages: {
    ja: 'ただいまバッチファイルを受け付けられません（受付領域の空き不足など）。何も保存していません。Retry-After 秒後にもう一度送ってください。',
    en: 'A batch file cannot be taken right now (the upload space is full, for example). Nothing was kept. Upload again after Retry-After seconds.' } },
  batch_not_found: { status: 404, title: 'Batch not found', messages: {
    ja: 'このバッチIDのファイルは見つかりませんでした。',
    en: 'There is no batch with this id.' } },
  batch_processing: { status: 409, title: 'Batch still being processed', messages: {
    ja: 'このバッチはまだ処理中です。処理が途中で止まった場合は、同じファイルを同じバッチIDで送り直すと続きから処理されます。',
    en: 'This batch is still being processed. If its processing stopped, upload the same file under the same batch id again and it resumes.' } },
  database_unavailable: { status: 503, title: 'Database unavailable', messages: {
    ja: 'ただいまシステムが混み合っているか停止しています。しばらくしてからもう一度お試しください。',
    en: 'The system is busy or down. Please try again in a moment.' } },
  internal_error: { status: 500, title: 'Internal error', messages: {
    ja: 'システムで問題が起きました。お問い合わせの際はリクエストIDをお伝えください。',
    en: 'Something went wrong in the system. Please quote the request ID if you contact us.' } },
  // Town services and the memberships residents link to their MyKey ID (docs/services.md).
  service_not_found: { status: 404, title: 'Service not found', messages: {
    ja: 'この施設・サービスは見つかりませんでした。',
    en: 'There is no such service.' } },
  service_uses_period_invalid: { status: 400, title: 'Period not valid', messages: {
    ja: '利用状況の期間の指定が正しくありません。開始日と終了日を YYYY-MM-DD で、開始日 ≦ 終了日、1年（366日）以内で指定してください。',
    en: 'The period of the usage figures is not valid. Give from and to as YYYY-MM-DD, from on or before to, at most a year (366 days).' } },
  service_name_taken: { status: 409, title: 'Service name taken', messages: {
    ja: '同じ名前の施設・サービスがすでに登録されています。別の名前にしてください。',
    en: 'A service with this name is already registered. Please choose another name.' } },
  device_not_for_service: { status: 403, title: 'Device not serving this service', messages: {
    ja: 'この端末はこの施設・サービスの窓口として登録されていません。管理者に端末の割り当てを確認してください。',
    en: 'This device is not registered as a counter of this service. Ask an administrator to check which service it serves.' } },
  event_category_not_found: { status: 404, title: 'Event category not found', messages: {
    ja: '指定された行事の分類が見つかりません。分類の一覧から選んでください。',
    en: 'The event category was not found. Please choose one from the list of categories.' } },
  event_category_name_taken: { status: 409, title: 'Event category name taken', messages: {
    ja: '同じ名前の分類がすでにあります。別の名前にしてください。',
    en: 'A category with this name already exists. Please choose another name.' } },
  event_not_found: { status: 404, title: 'Event not found', messages: {
    ja: '指定された行事が見つかりません。',
    en: 'The event was not found.' } },
  event_campaign_not_running: { status: 409, title: 'Campaign not running on the event\'s dates', messages: {
    ja: 'このキャンペーンは行事の日程のすべての日に実施されていません。行事の期間を含むキャンペーンを選んでください。',
    en: 'This campaign does not run on every day of the event. Choose a campaign whose dates cover the event.' } },
  device_not_for_event: { status: 403, title: 'Device not serving an event', messages: {
    ja: 'この端末は行事の受付として登録されていません。担当者に端末の割り当てを確認してください。',
    en: 'This device is not registered for an event. Ask the staff in charge to check which event it serves.' } },
  event_not_open: { status: 409, title: 'Event not open today', messages: {
    ja: 'この行事は本日開催されていないため、ポイントを付与できません。開催日にご参加ください。',
    en: 'This event is not held today, so no points can be granted. Please take part on the event\'s day.' } },
  event_figures_period_invalid: { status: 400, title: 'Period not valid', messages: {
    ja: '付与実績の期間の指定が正しくありません。開始日と終了日を YYYY-MM-DD で、開始日 ≦ 終了日、1年（366日）以内で指定してください。',
    en: 'The period of the grant figures is not valid. Give from and to as YYYY-MM-DD, from on or before to, at most a year (366 days).' } },
  campaign_figures_period_invalid: { status: 400, title: 'Period not valid', messages: {
    ja: 'キャンペーン実績の期間の指定が正しくありません。開始日と終了日を YYYY-MM-DD で、開始日 ≦ 終了日、1年（366日）以内で指定してください。',
    en: 'The period of the campaign figures is not valid. Give from and to as YYYY-MM-DD, from on or before to, at most a year (366 days).' } },
  service_card_unknown: { status: 409, title: 'Card not registered', messages: {
    ja: 'このカードはまだマイキーIDに登録されていません。窓口で一度ログインしてから、利用者カードをつないでください。',
    en: 'This card has no MyKey ID yet. Please log in once at a counter, then link your membership card.' } },
  membership_request_not_found: { status: 404, title: 'Link request not found', messages: {
    ja: 'この利用者カードのつなぎ替え手続きは見つかりませんでした。最初からやり直してください。',
    en: 'This membership request was not found. Please start again.' } },
  membership_request_not_open: { status: 409, title: 'Link request no longer open', messages: {
    ja: 'この手続きはすでに完了したか、有効時間が過ぎています。最初からやり直してください。',
    en: 'This request is already done or has expired. Please start again.' } },
  membership_exists: { status: 409, title: 'Already a member', messages: {
    ja: 'このマイキーIDには、この施設・サービスの利用者カードがすでにつながっています。カードで照会すると今の番号がわかります。別の番号をつなぐには、先に今の番号を外してください。',
    en: 'This MyKey ID is already linked to a membership of this service; a look-up with the card shows its number. To link another number, unlink the current one first.' } },
  membership_number_taken: { status: 409, title: 'Member number linked elsewhere', messages: {
    ja: 'この利用者番号は、別のマイキーIDにつながっています。番号を確認するか、施設の窓口で今のつながりを外してください。',
    en: 'This member number is linked to another MyKey ID. Please check the number, or have the service\'s counter unlink it first.' } },
  membership_not_found: { status: 404, title: 'Membership not found', messages: {
    ja: 'この利用者番号のつながりは見つかりませんでした。',
    en: 'No membership with this member number is linked.' } },
  membership_not_this_card: { status: 403, title: 'Not this card\'s membership', messages: {
    ja: 'この利用者番号は、このカードのマイキーIDにつながっていません。本人のカードでお試しください。',
    en: 'This member number is not linked to this card\'s MyKey ID. Please use the member\'s own card.' } },
  webhook_url_refused: { status: 400, title: 'Webhook URL refused', messages: {
    ja: 'この Webhook の URL は使えません。https:// で始まる2048文字までの URL を指定してください（http:// はこのサーバー自身のアドレスだけに使えます）。',
    en: 'This webhook URL cannot be used. Please give an https:// URL of at most 2048 characters (http:// only to this server\'s own loopback address).' } },
  no_recent_tap: { status: 404, title: 'No recent tap', messages: {
    ja: 'この端末では、直近5分以内にこの施設・サービスの利用者カードのタッチがありません。',
    en: 'No member has tapped a card for this service at this device in the last 5 minutes.' } },
  // Evacuation shelters and the check-ins tapped at their devices (docs/shelters.md).
  shelter_not_found: { status: 404, title: 'Shelter not found', messages: {
    ja: 'この避難所は見つかりませんでした。',
    en: 'There is no such shelter.' } },
  shelter_closed: { status: 409, title: 'Shelter closed', messages: {
    ja: 'この避難所はすでに閉鎖されています。受付や変更はできません。開設中の避難所をご案内ください。',
    en: 'This shelter is closed: it takes no check-ins and no changes. Please direct people to an open shelter.' } },
  device_not_for_shelter: { status: 403, title: 'Device not serving a shelter', messages: {
    ja: 'この端末は避難所の受付として割り当てられていません。本部に端末の割り当てを確認してください。',
    en: 'This device is not assigned to a shelter. Ask headquarters to check which shelter it serves.' } },
  shelter_card_unknown: { status: 409, title: 'Card not registered', messages: {
    ja: 'このカードはまだマイキーIDに登録されていません。避難所の受付名簿に手書きで記入してください。',
    en: 'This card has no MyKey ID yet. Please sign the shelter\'s paper register at the desk.' } },
  shelter_not_inside: { status: 409, title: 'Not checked in here', messages: {
    ja: 'このカードでは、この避難所への入所が記録されていません。退所の記録は不要です。入所する場合は「入所」でタッチしてください。',
    en: 'This card is not checked in at this shelter, so there is nothing to check out. To check in, tap with "Check in".' } },
  // Families find each other: consent with card and PIN, where the family are (docs/family.md).
  family_request_not_found: { status: 404, title: 'Family request not found', messages: {
    ja: 'この家族の同意の受付は見つかりませんでした。窓口でもう一度受付からやり直してください。',
    en: 'There is no such family consent request. Please start again at the counter.' } },
  family_request_expired: { status: 409, title: 'Family request expired', messages: {
    ja: 'この受付は期限切れか、すでに使われています。窓口でもう一度受付からやり直してください。',
    en: 'This request has expired or has been used already. Please start again at the counter.' } },
  family_code_unknown: { status: 404, title: 'Family code unknown', messages: {
    ja: 'この確認コードの申し出は見つかりませんでした。ご家族に表示されたコードを確かめてください。',
    en: 'No offer has this code. Please check the code shown to your family member.' } },
  family_offer_expired: { status: 409, title: 'Family offer expired', messages: {
    ja: 'この申し出は受付期限（申し出から10分）を過ぎました。ご家族にもう一度申し出てもらってください。',
    en: 'This offer was not accepted within 10 minutes and has expired. Please ask your family member to offer again.' } },
  family_offer_closed: { status: 409, title: 'Family offer closed', messages: {
    ja: 'この申し出はすでに承諾されたか、取り消されています。ご家族にもう一度申し出てもらってください。',
    en: 'This offer has already been accepted or withdrawn. Please ask your family member to offer again.' } },
  family_same_card: { status: 409, title: 'Same card', messages: {
    ja: '申し出たのと同じカードでは承諾できません。ご家族ご本人のカードでタッチしてください。',
    en: 'The card that made the offer cannot accept it. Your family member must tap their own card.' } },
  family_already_linked: { status: 409, title: 'Already linked', messages: {
    ja: 'このお二人はすでに避難先を確認し合える状態です。新たな手続きは不要です。',
    en: 'You two can already see each other\'s shelter. Nothing more is needed.' } },
  family_card_unknown: { status: 409, title: 'Card not registered', messages: {
    ja: 'このカードはまだこの自治体で使えるマイキーIDに登録されていません。窓口で登録してください。',
    en: 'This card has no MyKey ID usable in this town yet. Please register it at the counter.' } },
  family_nothing_to_withdraw: { status: 409, title: 'Nothing to withdraw', messages: {
    ja: 'このカードには、取り消す家族の同意がありません。',
    en: 'This card has no family consent to withdraw.' } },
  family_consent_not_found: { status: 404, title: 'Family consent not found', messages: {
    ja: 'この家族の同意は見つかりませんでした。すでに取り消されたか、受付の期限が過ぎています。',
    en: 'This family consent was not found: it was already withdrawn, or its time to accept has passed.' } },
  // The resident's own page, opened with card and PIN (docs/resident.md).
  resident_session_closed: { status: 401, title: 'Resident page closed', messages: {
    ja: 'わたしのページは閉じています（カードが外されたか、5分間操作がなかったか、開いてから30分たったため）。もう一度カードを置いて、暗証番号で開いてください。',
    en: 'Your page is closed (the card was removed, nothing was done for five minutes, or it was open for thirty minutes). Place your card again and open it with your PIN.' } },
  resident_card_unknown: { status: 409, title: 'Card not registered', messages: {
    ja: 'このカードはまだマイキーIDに登録されていません。市区町村の窓口で登録してください。',
    en: 'This card has no MyKey ID yet. Please register it at your municipal office counter.' } },
  resident_card_mismatch: { status: 409, title: 'Not this page\'s card', messages: {
    ja: 'このカードは、いま開いているページの方のカードではありません。ページを開いたご本人のカードでお試しください。',
    en: 'This card is not the card of the person whose page is open. Please use the card that opened this page.' } },
  // Shops: applications, approval, suspension (docs/shops.md).
  shop_not_found: { status: 404, title: 'Shop not found', messages: {
    ja: 'この加盟店（申請）は見つかりませんでした。',
    en: 'There is no such shop or application.' } },
  shop_status_conflict: { status: 409, title: 'Shop status does not allow this', messages: {
    ja: 'この加盟店の現在の状態では、この操作はできません（shopStatus を参照）。画面を更新してください。',
    en: 'The shop\'s current status does not allow this (see shopStatus). Please reload the screen.' } },
  shop_application_rate_limited: { status: 429, title: 'Too many applications', messages: {
    ja: 'この接続元からの申請が続いたため、しばらく受け付けられません。時間をおいてもう一度お試しください。',
    en: 'Too many applications came from this address. Please wait a while, then try again.' } },
  merchant_suspended: { status: 403, title: 'Shop suspended', messages: {
    ja: 'この加盟店は自治体により停止されているため、ポイントでの支払いを受け付けられません。自治体にお問い合わせください。',
    en: 'The municipality has suspended this shop, so it cannot accept points. Please contact the municipality.' } },
} as const satisfies Record<string, ProblemKind>;

export type ProblemCode = keyof typeof problemKinds;
