// Families find each other: two residents consent with card and PIN (an offer under a code, its
// acceptance at a counter of the town), then each sees, at a shelter's desk, which shelter the
// other is inside; either withdraws for both. Nobody else learns anything, staff included.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { fileFixture } from './helpers/env.ts';
import { cardProof, cardSession, enrollDevice, firstLogin, municipalCounter, secondTown, signInStaff, type Device, type Reply } from './helpers/identity.ts';
import type { IssuedCertificate } from '@mykey/dev-tools/dev-ca/index.ts';

const fixture = fileFixture(test, async (cleanup) => {
  const f = await municipalCounter(cleanup);
  const counter2 = await enrollDevice(f.base, f.staff, '支所窓口');
  const [gymDesk, hallDesk] = [await enrollDevice(f.base, f.staff, '体育館受付'), await enrollDevice(f.base, f.staff, '公民館受付')];
  const open = async (desk: Device, nameJa: string, nameEn: string, place: string) => {
    const shelter = (await f.staff.post('/api/v1/shelters', { nameJa, nameEn, place, capacity: 50, drill: true })).body;
    await f.staff.put(`/api/v1/shelters/${shelter.id}/devices`, { deviceIds: [desk.id] });
    return shelter as { id: number; nameJa: string; nameEn: string };
  };
  const gym = await open(gymDesk, '家族テスト体育館', 'Family Test Gym', 'みらい市中央2-1');
  const hall = await open(hallDesk, '家族テスト公民館', 'Family Test Hall', 'みらい市西3-4');
  return { ...f, counter2, gymDesk, hallDesk, gym, hall };
});
type Fixture = Awaited<ReturnType<typeof fixture>>;

type Consent = { action: 'offer'; label: string } | { action: 'accept'; code: string; label: string };

/** The counter opens a request, the card signs its challenge with the PIN: the card session's reply, or the first refusal. */
async function consent(counter: Device, card: IssuedCertificate, body: Consent): Promise<Reply & { text?: string }> {
  const request = await counter.post('/api/v1/family/requests', body);
  if (request.status !== 201) return request;
  const challenge = await counter.post('/api/v1/auth/challenges', { purpose: `family_${body.action}`, familyRequestId: request.body.requestId });
  if (challenge.status !== 201) return challenge;
  const signed = await counter.post('/api/v1/auth/card-sessions', cardProof(challenge.body, card));
  return { ...signed, text: Buffer.from(challenge.body.challenge, 'base64').toString('utf8') };
}

/** Two residents who consented with each other, each under their own label. */
async function pair(f: Fixture, labels = ['母', '子']) {
  const [a, b] = [await firstLogin(f.pki, f.device), await firstLogin(f.pki, f.device)];
  const offered = await consent(f.device, a.card, { action: 'offer', label: labels[0]! });
  if (offered.status !== 201) throw new Error(JSON.stringify(offered.body));
  const accepted = await consent(f.counter2, b.card, { action: 'accept', code: offered.body.code, label: labels[1]! });
  if (accepted.status !== 201) throw new Error(JSON.stringify(accepted.body));
  return { a, b, code: offered.body.code as string };
}

const tap = (desk: Device, card: IssuedCertificate, purpose: string) => desk.post('/api/v1/auth/card-taps', { purpose, certificate: card.certificateDer.toString('base64') });
const checkIn = (desk: Device, card: IssuedCertificate) => tap(desk, card, 'shelter_check_in');
const familyOf = async (desk: Device, card: IssuedCertificate) => (await tap(desk, card, 'family_whereabouts')).body.family;

test('both consent: the offer names its code and label, the acceptance whom it consents to; then each sees where the other is, never a MyKey ID', async (t) => {
  const f = await fixture();
  const [mother, son] = [await firstLogin(f.pki, f.device), await firstLogin(f.pki, f.device)];

  const offered = await consent(f.device, mother.card, { action: 'offer', label: '母・花子' });
  t.like(offered, { status: 201, body: { purpose: 'family_offer', label: '母・花子' } });
  t.regex(offered.body.code, /^[A-HJKMNP-Z2-9]{8}$/);
  t.regex(offered.text!, new RegExp(`family-offer: the holder of the card that accepts code ${offered.body.code} may learn which shelter I check into, and I theirs\nfamily-my-label: 母・花子\n`));
  t.regex(offered.body.messages.ja, new RegExp(`確認コード ${offered.body.code}`));

  // One-sided is nothing: the son, inside, is not seen by the mother, nor she by him.
  t.like((await checkIn(f.hallDesk, son.card)).body, { result: 'checked_in', family: { linked: 0, inside: [] } });
  t.like(await familyOf(f.gymDesk, mother.card), { linked: 0, inside: [] });

  // The son accepts at another counter of the town, typing the code as read out.
  const typed = `${offered.body.code.slice(0, 4).toLowerCase()} ${offered.body.code.slice(4)}`;
  const request = await f.counter2.post('/api/v1/family/requests', { action: 'accept', code: typed, label: '太郎' });
  t.like(request, { status: 201, body: { action: 'accept', code: offered.body.code, label: '太郎', offererLabel: '母・花子' } });
  const challenge = await f.counter2.post('/api/v1/auth/challenges', { purpose: 'family_accept', familyRequestId: request.body.requestId });
  t.like(challenge.body, { family: { action: 'accept', offererLabel: '母・花子', label: '太郎', code: offered.body.code } });
  t.regex(Buffer.from(challenge.body.challenge, 'base64').toString('utf8'), new RegExp(`family-accept: 母・花子 \\(code ${offered.body.code}\\) may learn which shelter I check into, and I theirs\nfamily-my-label: 太郎\n`));
  const accepted = await f.counter2.post('/api/v1/auth/card-sessions', cardProof(challenge.body, son.card));
  t.like(accepted, { status: 201, body: { purpose: 'family_accept', offererLabel: '母・花子', label: '太郎' } });
  t.like(accepted.body.family, { linked: 1, inside: [] }, 'the mother is not in a shelter yet');

  // The mother checks in at the gym: her answer says where her son is.
  const motherIn = await checkIn(f.gymDesk, mother.card);
  t.like(motherIn, { status: 201, body: { result: 'checked_in', shelter: { id: f.gym.id }, family: { linked: 1 } } });
  t.deepEqual(motherIn.body.family.inside, [{ label: '太郎', shelter: { id: f.hall.id, nameJa: f.hall.nameJa, nameEn: f.hall.nameEn, place: 'みらい市西3-4' }, since: (await staysSince(f, son.mykeyId)) }]);
  t.regex(motherIn.body.family.messages.ja, /同意したご家族1人のうち、1人が避難所にいます。太郎：家族テスト公民館/);
  // The son asks at his shelter's desk, PIN-less: his mother is at the gym.
  const asked = await tap(f.hallDesk, son.card, 'family_whereabouts');
  t.like(asked, { status: 201, body: { purpose: 'family_whereabouts', shelter: { id: f.hall.id }, family: { linked: 1 } } });
  t.deepEqual(asked.body.family.inside.map((x: { label: string; shelter: { id: number } }) => [x.label, x.shelter.id]), [['母・花子', f.gym.id]]);
  t.like(await cardSession(f.hallDesk, son.card, 'family_whereabouts'), { status: 201, body: { family: { inside: [{ label: '母・花子' }] } } }, 'with the PIN too');
  for (const reply of [offered, accepted, motherIn, asked]) {
    t.false(JSON.stringify(reply.body).includes(mother.mykeyId) || JSON.stringify(reply.body).includes(son.mykeyId), 'no MyKey ID in any answer');
  }

  // Leaving the shelter, the son is no longer seen anywhere.
  t.is((await tap(f.hallDesk, son.card, 'shelter_check_out')).status, 201);
  t.like(await familyOf(f.gymDesk, mother.card), { linked: 1, inside: [] });
  t.like((await checkIn(f.gymDesk, mother.card)).body, { result: 'already_inside', family: { linked: 1, inside: [] } }, 'nor in a check-in\'s answer');
});

/** When the resident's open stay began, as the answers give it. */
async function staysSince(f: Fixture, mykeyId: string): Promise<string> {
  const stay = await f.db('shelter_stays as st').join('mykeys as m', 'm.id', 'st.mykey_pk').where({ 'm.mykey_id': mykeyId }).whereNull('st.out_at').first('st.in_at');
  return (stay.in_at as Date).toISOString();
}

test('either withdraws with card and PIN, and it ends for both at once; a withdrawal twice finds nothing', async (t) => {
  const f = await fixture();
  for (const withdrawer of ['a', 'b'] as const) {
    const { a, b } = await pair(f);
    await checkIn(f.gymDesk, a.card);
    await checkIn(f.hallDesk, b.card);
    t.like(await familyOf(f.gymDesk, a.card), { linked: 1, inside: [{ label: '子' }] });
    t.like(await tap(f.gymDesk, (withdrawer === 'a' ? a : b).card, 'family_withdraw'), { status: 403, body: { code: 'card_tap_not_allowed' } }, 'never PIN-less');
    const withdrawn = await cardSession(f.device, (withdrawer === 'a' ? a : b).card, 'family_withdraw');
    t.like(withdrawn, { status: 201, body: { purpose: 'family_withdraw', ended: 1 } });
    t.regex(withdrawn.body.messages.ja, /取り消しました/);
    t.like(await familyOf(f.gymDesk, a.card), { linked: 0, inside: [] }, `withdrawn by ${withdrawer}: the mother sees nothing`);
    t.like(await familyOf(f.hallDesk, b.card), { linked: 0, inside: [] }, `withdrawn by ${withdrawer}: the son sees nothing`);
    t.like((await checkIn(f.gymDesk, b.card)).body, { family: { linked: 0, inside: [] } }, 'nor at a check-in');
    const again = await cardSession(f.device, (withdrawer === 'a' ? a : b).card, 'family_withdraw');
    t.like(again, { status: 409, body: { code: 'family_nothing_to_withdraw' } });
    t.regex(again.body.messages.ja, /取り消す家族の同意がありません/);
  }
});

test('refusals: unknown code, the same card twice, already linked, taken, expired, withdrawn offers, requests of another device or past their time; nothing stored on any', async (t) => {
  const f = await fixture();
  const { a, b, code } = await pair(f);
  const stranger = await firstLogin(f.pki, f.device);
  // Other tests run meanwhile: only these three residents' rows are counted.
  const pks = (await f.db('mykeys').whereIn('mykey_id', [a.mykeyId, b.mykeyId, stranger.mykeyId]).select('id')).map((row: { id: number }) => row.id);
  const counts = async () => ({
    pairings: Number((await f.db('family_pairings').whereIn('offerer_mykey_pk', pks).count({ n: '*' }))[0]!.n),
    audit: Number((await f.db('audit_events').whereIn('subject', [a.mykeyId, b.mykeyId, stranger.mykeyId]).where('action', 'like', 'family.%').count({ n: '*' }))[0]!.n),
  });
  const before = await counts();

  const unknown = await f.device.post('/api/v1/family/requests', { action: 'accept', code: code === 'ABCDEFGH' ? 'HGFEDCBA' : 'ABCDEFGH', label: '誰か' });
  t.like(unknown, { status: 404, body: { code: 'family_code_unknown' } });
  t.regex(unknown.body.messages.ja, /確認コード/);
  t.like(await consent(f.device, stranger.card, { action: 'accept', code, label: '他人' }), { status: 409, body: { code: 'family_offer_closed' } }, 'an accepted offer takes nobody else');

  const offer = await consent(f.device, a.card, { action: 'offer', label: '母' });
  t.like(await consent(f.counter2, a.card, { action: 'accept', code: offer.body.code, label: '母' }), { status: 409, body: { code: 'family_same_card' } });
  t.like(await consent(f.counter2, b.card, { action: 'accept', code: offer.body.code, label: '子' }), { status: 409, body: { code: 'family_already_linked' } });
  t.like(await consent(f.counter2, (await f.pki.card()), { action: 'accept', code: offer.body.code, label: '新しい' }), { status: 409, body: { code: 'family_card_unknown' } });

  // An acceptance opened in time, signed after the offer's ten minutes: refused at the card.
  const late = await f.counter2.post('/api/v1/family/requests', { action: 'accept', code: offer.body.code, label: '他人' });
  const lateChallenge = await f.counter2.post('/api/v1/auth/challenges', { purpose: 'family_accept', familyRequestId: late.body.requestId });
  await f.db('family_pairings').where({ code: offer.body.code }).update({ accept_by: new Date(Date.now() - 1000) });
  t.like(await f.counter2.post('/api/v1/auth/card-sessions', cardProof(lateChallenge.body, stranger.card)), { status: 409, body: { code: 'family_offer_expired' } });
  t.like(await f.counter2.post('/api/v1/family/requests', { action: 'accept', code: offer.body.code, label: '他人' }), { status: 409, body: { code: 'family_offer_expired' } });

  // A withdrawn offer is closed to acceptance.
  const withdrawnOffer = await consent(f.device, stranger.card, { action: 'offer', label: '他人' });
  t.like(await cardSession(f.device, stranger.card, 'family_withdraw'), { status: 201, body: { ended: 0 } });
  t.like(await consent(f.counter2, b.card, { action: 'accept', code: withdrawnOffer.body.code, label: '子' }), { status: 409, body: { code: 'family_offer_closed' } });

  // A request is its device's, for its action, for five minutes, once.
  const own = await f.device.post('/api/v1/family/requests', { action: 'offer', label: '母' });
  t.like(await f.counter2.post('/api/v1/auth/challenges', { purpose: 'family_offer', familyRequestId: own.body.requestId }), { status: 404, body: { code: 'family_request_not_found' } });
  t.like(await f.device.post('/api/v1/auth/challenges', { purpose: 'family_accept', familyRequestId: own.body.requestId }), { status: 404, body: { code: 'family_request_not_found' } });
  t.like(await f.device.post('/api/v1/auth/challenges', { purpose: 'family_offer' }), { status: 400, body: { code: 'request_invalid' } });
  const signedOnce = await f.device.post('/api/v1/auth/challenges', { purpose: 'family_offer', familyRequestId: own.body.requestId });
  await f.db('family_requests').where({ id: own.body.requestId }).update({ expires_at: new Date(Date.now() - 1000) });
  t.like(await f.device.post('/api/v1/auth/card-sessions', cardProof(signedOnce.body, a.card)), { status: 409, body: { code: 'family_request_expired' } });
  t.like(await f.device.post('/api/v1/auth/challenges', { purpose: 'family_offer', familyRequestId: own.body.requestId }), { status: 409, body: { code: 'family_request_expired' } });
  t.like(await tap(f.gymDesk, a.card, 'family_offer'), { status: 400, body: { code: 'request_invalid' } }, 'an offer is never a PIN-less tap');

  for (const bad of [{ action: 'offer', label: '' }, { action: 'offer', label: '   ' }, { action: 'offer', label: '母\n父' }, { action: 'offer', label: 'x'.repeat(31) },
    { action: 'offer' }, { action: 'accept', code: 'ABC', label: '子' }, { action: 'accept', code: 'ABCDEFG0', label: '子' }, { action: 'accept', label: '子' },
    { action: 'offer', label: '母', extra: 1 }, { action: 'link', label: '母' }]) {
    t.like(await f.device.post('/api/v1/family/requests', bad), { status: 400, body: { code: 'request_invalid' } }, JSON.stringify(bad));
  }
  t.like(await f.device.post('/api/v1/family/requests', { action: 'offer', label: '母' }, ''), { status: 400 }, 'no request without an Idempotency-Key');
  t.like(await tap(f.device, a.card, 'family_whereabouts'), { status: 403, body: { code: 'device_not_for_shelter' } }, 'where the family are is asked at a shelter\'s desk');

  t.deepEqual(await counts(), { pairings: before.pairings + 2, audit: before.audit + 3 }, 'only the two offers signed are stored; they and the withdrawal audited, no refusal');
});

test('every mutating call answers the same again under its key, and records once', async (t) => {
  const f = await fixture();
  const mother = await firstLogin(f.pki, f.device);
  const key = randomUUID();
  const request = await f.device.post('/api/v1/family/requests', { action: 'offer', label: '母' }, key);
  t.deepEqual(await f.device.post('/api/v1/family/requests', { action: 'offer', label: '母' }, key), request);
  t.like(await f.device.post('/api/v1/family/requests', { action: 'offer', label: '父' }, key), { status: 409, body: { code: 'idempotency_key_reused' } }, 'another body under the same key');
  const challenge = await f.device.post('/api/v1/auth/challenges', { purpose: 'family_offer', familyRequestId: request.body.requestId });
  const proof = cardProof(challenge.body, mother.card);
  const sessionKey = randomUUID();
  const offered = await f.device.post('/api/v1/auth/card-sessions', proof, sessionKey);
  t.is(offered.status, 201);
  t.deepEqual(await f.device.post('/api/v1/auth/card-sessions', proof, sessionKey), offered);
  t.is(await f.db('family_pairings').where({ code: offered.body.code }).count({ n: '*' }).then((rows) => Number(rows[0]!.n)), 1);
});

test('a stranger learns nothing, another town knows no code of this one, and staff cannot see who consented with whom', async (t) => {
  const f = await fixture();
  const { a, b, code } = await pair(f, ['祖母', '孫']);
  await checkIn(f.gymDesk, a.card);
  const stranger = await firstLogin(f.pki, f.device);
  t.like((await checkIn(f.hallDesk, stranger.card)).body, { family: { linked: 0, inside: [] } });
  t.like(await familyOf(f.hallDesk, stranger.card), { linked: 0, inside: [] });

  const offer = await consent(f.device, b.card, { action: 'offer', label: '孫' });
  const other = await secondTown(f.base);
  t.like(await other.device.post('/api/v1/family/requests', { action: 'accept', code: offer.body.code, label: '他町' }), { status: 404, body: { code: 'family_code_unknown' } });
  t.like(await other.device.post('/api/v1/family/requests', { action: 'accept', code, label: '他町' }), { status: 404, body: { code: 'family_code_unknown' } });

  // Staff have no family route at all, and a resident's record says a consent was given, not with whom.
  t.is((await f.staff.post('/api/v1/family/requests', { action: 'offer', label: '職員' })).status, 401);
  t.is((await f.staff.get('/api/v1/family/requests')).status, 405);
  for (const [self, partner] of [[a, b], [b, a]] as const) {
    const record = await f.staff.get(`/api/v1/staff/mykeys/${self.mykeyId}`);
    t.is(record.status, 200);
    const text = JSON.stringify(record.body);
    t.true(/family\.(offered|accepted)/.test(text), 'the consent is on record');
    t.false(text.includes(partner.mykeyId), 'the other resident is not named');
    t.false(text.includes(code), 'nor the code that joined them');
  }
  // The roster is the shelter's own, as before: the grandmother, and nobody of her family.
  const roster = (await f.staff.get(`/api/v1/shelters/${f.gym.id}/roster`)).body;
  t.true(roster.people.some((p: { mykeyId: string }) => p.mykeyId === a.mykeyId));
  t.false(JSON.stringify(roster).includes('孫') || JSON.stringify(roster).includes('祖母'), 'no family label in the roster');
  const shop = await signInStaff(f.base, 'demo-shop');
  t.is((await shop.get(`/api/v1/staff/mykeys/${a.mykeyId}`)).status, 403);
});
