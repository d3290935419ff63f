// Card login through the HTTP API: challenges, signatures, issuance of MyKey IDs, and every
// reason a card is refused. Certificates come from a CA made for this file.
import test from 'ava';
import { issueCertificate, issueCrl, createCa } from '@mykey/dev-tools/dev-ca/index.ts';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { startApp } from './helpers/server.ts';
import { cardProof, cardSession, cardSign, enrollDevice, signInStaff, testPki } from './helpers/identity.ts';
import { parseMykeyId } from '../src/mykey/id.ts';
import { canonicalChallenge } from '@mykey/contracts/challenge-text.ts';
import { challengeRepository, newChallenge } from '../src/card-taps/repository.ts';
import { testIdentity } from './helpers/server.ts';

const DAY = 86_400_000;

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  await db.seed.run();
  const pki = await testPki();
  const identity = testIdentity(db, [pki.ca.certificate]);
  // A current CRL, an hour old, so revocation is checked; a test revoking a card adds a newer one.
  await identity.addCrl((await issueCrl(pki.ca, { revoked: [], thisUpdate: new Date(Date.now() - 3_600_000), nextUpdate: new Date(Date.now() + DAY) })).der);
  const base = await startApp(cleanup, db, { identity });
  const staff = await signInStaff(base, 'demo-city');
  return { db, pki, identity, base, staff, device: await enrollDevice(base, staff), other: await enrollDevice(base, staff, 'カウンター2') };
});

test('a card logs in for the first time: a MyKey ID is issued; the same card again gets the same ID', async (t) => {
  const { pki, device, other } = await fixture();
  const card = await pki.card();
  const first = await cardSession(device, card);
  t.is(first.status, 201, JSON.stringify(first.body));
  t.like(first.body, { purpose: 'login', issued: true });
  t.like(parseMykeyId(first.body.mykeyId), { ok: true, id: first.body.mykeyId });
  const again = await cardSession(other, card);
  t.like(again.body, { mykeyId: first.body.mykeyId, issued: false });
  const another = await cardSession(device, await pki.card());
  t.not(another.body.mykeyId, first.body.mykeyId);
});

test('nothing of the certificate is stored but a keyed hash: no serial, no certificate bytes, no name', async (t) => {
  const { db, pki, device } = await fixture();
  const card = await pki.card();
  t.is((await cardSession(device, card)).status, 201);
  const [tables] = await db.raw('SHOW TABLES');
  let dump = '';
  for (const row of tables as Array<Record<string, string>>) {
    const rows = await db(Object.values(row)[0]!).select();
    dump += JSON.stringify(rows, (_key, value) => (value?.type === 'Buffer' ? Buffer.from(value.data).toString('hex') : value));
  }
  t.false(dump.toUpperCase().includes(card.serialNumberHex), 'serial number stored');
  t.false(dump.includes(card.commonName), 'subject name stored');
  t.false(dump.toLowerCase().includes(card.certificateDer.subarray(-64).toString('hex')), 'certificate bytes stored');
});

test('a signed challenge cannot be replayed; a retry under the same Idempotency-Key gets the first answer', async (t) => {
  const { pki, device } = await fixture();
  const card = await pki.card();
  const challenge = await device.post('/api/v1/auth/challenges', { purpose: 'login' });
  const proof = cardProof(challenge.body, card);
  const first = await device.post('/api/v1/auth/card-sessions', proof, 'login-attempt-1');
  const retry = await device.post('/api/v1/auth/card-sessions', proof, 'login-attempt-1');
  const replay = await device.post('/api/v1/auth/card-sessions', proof, 'login-attempt-2');
  t.is(first.status, 201);
  t.deepEqual(retry, first);
  t.is(replay.status, 409);
  t.is(replay.body.code, 'challenge_reused');
});

test('the same replayed challenge sent ten times at once: one login, nine challenge_reused', async (t) => {
  const { pki, device } = await fixture();
  const challenge = await device.post('/api/v1/auth/challenges', { purpose: 'login' });
  const proof = cardProof(challenge.body, await pki.card());
  const replies = await Promise.all(Array.from({ length: 10 }, () => device.post('/api/v1/auth/card-sessions', proof)));
  t.is(replies.filter((r) => r.status === 201).length, 1);
  t.true(replies.filter((r) => r.status !== 201).every((r) => r.body.code === 'challenge_reused'));
});

test('two devices, one card, at the same moment: one MyKey ID, issued once', async (t) => {
  const { db, pki, base, staff } = await fixture();
  const devices = await Promise.all([1, 2, 3, 4].map((n) => enrollDevice(base, staff, `同時${n}`)));
  const card = await pki.card();
  const replies = await Promise.all(devices.map((device) => cardSession(device, card)));
  t.true(replies.every((r) => r.status === 201), JSON.stringify(replies.map((r) => r.body)));
  t.is(new Set(replies.map((r) => r.body.mykeyId)).size, 1);
  t.is(replies.filter((r) => r.body.issued).length, 1);
  t.is((await db('audit_events').where({ action: 'mykey.issued', subject: replies[0]!.body.mykeyId })).length, 1);
});

test('challenge_expired: a signature that arrives after the 60 seconds', async (t) => {
  const { db, pki, device } = await fixture();
  const card = await pki.card();
  const made = newChallenge(device.id, 'login', new Date(Date.now() - 61_000), null);
  await db.transaction((trx) => challengeRepository.insert(trx, [made]));
  const { challenge } = made;
  const reply = await device.post('/api/v1/auth/card-sessions', {
    challengeId: challenge.id,
    certificate: card.certificateDer.toString('base64'),
    signature: cardSign(card, canonicalChallenge(challenge)).toString('base64'),
  });
  t.is(reply.body.code, 'challenge_expired');
});

test("challenge_unknown: another device's challenge, or one never issued", async (t) => {
  const { pki, device, other } = await fixture();
  const challenge = await device.post('/api/v1/auth/challenges', { purpose: 'login' });
  const stolen = await other.post('/api/v1/auth/card-sessions', cardProof(challenge.body, await pki.card()));
  t.is(stolen.body.code, 'challenge_unknown');
  const invented = await device.post('/api/v1/auth/card-sessions', { ...cardProof(challenge.body, await pki.card()), challengeId: 'A'.repeat(43) });
  t.is(invented.body.code, 'challenge_unknown');
});

test('signature_invalid: signed by another key, or over other bytes', async (t) => {
  const { pki, device } = await fixture();
  const card = await pki.card();
  const impostor = await pki.card();
  const challenge = await device.post('/api/v1/auth/challenges', { purpose: 'login' });
  const otherKey = { ...cardProof(challenge.body, impostor), certificate: card.certificateDer.toString('base64') };
  t.is((await device.post('/api/v1/auth/card-sessions', otherKey)).body.code, 'signature_invalid');
  const otherBytes = { ...cardProof(challenge.body, card), signature: cardSign(card, Buffer.from('something else')).toString('base64') };
  t.is((await device.post('/api/v1/auth/card-sessions', otherBytes)).body.code, 'signature_invalid');
  const truncated = { ...cardProof(challenge.body, card), signature: Buffer.alloc(3).toString('base64') };
  t.is((await device.post('/api/v1/auth/card-sessions', truncated)).body.code, 'signature_invalid');
  t.is((await device.post('/api/v1/auth/card-sessions', cardProof(challenge.body, card))).status, 201, 'the challenge was not spent by the failures');
});

for (const [code, make] of [
  ['certificate_untrusted', async () => issueCertificate(await createCa({ kind: 'auth' }))],
  ['certificate_expired', async () => (await fixture()).pki.card({ notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) })],
  ['certificate_not_yet_valid', async () => (await fixture()).pki.card({ notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 10 * DAY) })],
  ['certificate_wrong_type', async () => issueCertificate(await createCa({ kind: 'sign' }))],
] as const) {
  test(`${code}: the card session is refused with that code`, async (t) => {
    const { device } = await fixture();
    const reply = await cardSession(device, await make());
    t.is(reply.body.code, code, JSON.stringify(reply.body));
    t.truthy(reply.body.messages.ja);
  });
}

test('certificate_malformed: bytes that are not a certificate', async (t) => {
  const { pki, device } = await fixture();
  const challenge = await device.post('/api/v1/auth/challenges', { purpose: 'login' });
  const proof = cardProof(challenge.body, await pki.card());
  const garbage = await device.post('/api/v1/auth/card-sessions', { ...proof, certificate: Buffer.from('not a certificate').toString('base64') });
  t.is(garbage.body.code, 'certificate_malformed');
  const notBase64 = await device.post('/api/v1/auth/card-sessions', { ...proof, certificate: '***' });
  t.is(notBase64.body.code, 'request_invalid');
});

test('certificate_revoked: a card on the CRL stops logging in at once, its MyKey ID waits for a relink', async (t) => {
  const { db, pki, device, identity } = await fixture();
  const card = await pki.card();
  const { mykeyId } = (await cardSession(device, card)).body;
  await identity.addCrl((await issueCrl(pki.ca, { revoked: [{ serialNumberHex: card.serialNumberHex, reason: 'keyCompromise' }] })).der);
  const refused = await cardSession(device, card);
  t.is(refused.body.code, 'certificate_revoked');
  const mykey = await db('mykeys as m').join('mykey_certificates as c', 'c.mykey_pk', 'm.id').where('m.mykey_id', mykeyId).first('m.status', 'c.status as card');
  t.deepEqual({ ...mykey }, { status: 'active', card: 'revoked' });
  t.is((await db('audit_events').where({ action: 'mykey.certificate_revoked', subject: mykeyId })).length, 1);
});

test('mykey_suspended: a suspended MyKey ID does not log in', async (t) => {
  const { db, pki, device } = await fixture();
  const card = await pki.card();
  const { mykeyId } = (await cardSession(device, card)).body;
  await db('mykeys').where({ mykey_id: mykeyId }).update({ status: 'suspended' });
  const reply = await cardSession(device, card);
  t.is(reply.status, 403);
  t.is(reply.body.code, 'mykey_suspended');
});

test('a relink proof neither issues nor needs a MyKey ID: a new card gets null, a known card its ID', async (t) => {
  const { pki, device } = await fixture();
  const fresh = await pki.card();
  const proof = await cardSession(device, fresh, 'relink');
  t.is(proof.status, 201);
  t.like(proof.body, { purpose: 'relink', mykeyId: null });
  // Row counts would race the file's other tests; the card's own first login shows nothing was issued.
  t.like((await cardSession(device, fresh)).body, { issued: true }, 'the relink proof issued no MyKey ID');
  const known = await pki.card();
  const { mykeyId } = (await cardSession(device, known)).body;
  t.like((await cardSession(device, known, 'relink')).body, { mykeyId });
});

test('device_unknown: no token, a made-up token, and the requests of a revoked device', async (t) => {
  const { base, staff } = await fixture();
  const anonymous = await fetch(`${base}/api/v1/auth/challenges`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'anon-key-0001' }, body: '{"purpose":"login"}' });
  t.is((await anonymous.json()).code, 'device_unknown');
  const device = await enrollDevice(base, staff, '取消予定');
  t.is((await staff.post(`/api/v1/staff/devices/${device.id}/revocation`, {})).status, 200);
  t.is((await device.post('/api/v1/auth/challenges', { purpose: 'login' })).body.code, 'device_unknown');
});

test('challenges asked at once are stored together: each key once, twins sent at the same moment get one challenge, nothing else stored', async (t) => {
  const { db, pki, base, staff } = await fixture();
  // Devices of this test's own, so that the other tests' challenges are not counted.
  const [device, other] = [await enrollDevice(base, staff, 'まとめ1'), await enrollDevice(base, staff, 'まとめ2')];
  // 40 keys over two devices, the first 8 of each sent twice at the same moment (a client's retry).
  const asks = Array.from({ length: 40 }, (_, i) => ({ device: i % 2 ? other : device, key: `challenge-burst-${i}` }));
  const replies = await Promise.all([...asks, ...asks.slice(0, 16)].map(({ device: asking, key }) => asking.post('/api/v1/auth/challenges', { purpose: 'login' }, key)));
  t.deepEqual(replies.map((reply) => reply.status), replies.map(() => 201));
  const byKey = new Map<string, string>();
  [...asks, ...asks.slice(0, 16)].forEach(({ key }, i) => {
    const id = replies[i]!.body.challengeId as string;
    t.is(byKey.get(key) ?? id, id, `key ${key}: one challenge`);
    byKey.set(key, id);
  });
  t.is(new Set(byKey.values()).size, 40);
  t.is(Number((await db('auth_challenges').whereIn('device_id', [device.id, other.id]).count({ n: '*' }))[0]!.n), 40, 'one row per key, none for a group that committed nothing');
  // Each is a challenge like any other: the card signs it at the device that asked.
  const signed = await device.post('/api/v1/auth/card-sessions', cardProof(replies[0]!.body, await pki.card()));
  t.is(signed.status, 201, JSON.stringify(signed.body));
  t.is((await other.post('/api/v1/auth/card-sessions', cardProof(replies[0]!.body, await pki.card()))).body.code, 'challenge_unknown');
});

test('known cards logging in at once: each its own MyKey ID, each challenge used up by its card, a challenge sent twice answered once, retries the first answer', async (t) => {
  const { db, pki, base, staff } = await fixture();
  const [device, other] = [await enrollDevice(base, staff, '同時ログイン1'), await enrollDevice(base, staff, '同時ログイン2')];
  const at = (i: number) => (i % 2 ? other : device);
  const cards = await Promise.all(Array.from({ length: 24 }, () => pki.card()));
  const ids: string[] = [];
  for (const card of cards) ids.push((await cardSession(device, card)).body.mykeyId as string);
  const challenges = await Promise.all(cards.map((_, i) => at(i).post('/api/v1/auth/challenges', { purpose: 'login' })));
  const proofs = cards.map((card, i) => cardProof(challenges[i]!.body, card));
  // Every card once, and two challenges sent again under another key (a replay), all at the same moment.
  const sends = [...cards.map((_, i) => ({ i, key: `login-burst-${i}` })), ...[6, 7].map((i) => ({ i, key: `login-burst-replay-${i}` }))];
  const replies = await Promise.all(sends.map(({ i, key }) => at(i).post('/api/v1/auth/card-sessions', proofs[i], key)));
  sends.forEach(({ i, key }, n) => {
    const reply = replies[n]!;
    if (reply.status === 201) t.like(reply.body, { purpose: 'login', challengeId: challenges[i]!.body.challengeId, mykeyId: ids[i], issued: false }, key);
    else t.like(reply, { status: 409, body: { code: 'challenge_reused' } }, key);
  });
  for (const i of [6, 7]) {
    const pair = sends.flatMap((send, n) => (send.i === i ? [replies[n]!.status] : [])).sort();
    t.deepEqual(pair, [201, 409], `card ${i}: its challenge answered once`);
  }
  t.is(replies.filter((reply) => reply.status === 201).length, 24);
  // The first six again, each sent twice at once under its key (a client's retries): the first answers.
  const retries = await Promise.all([0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5].map((i) => at(i).post('/api/v1/auth/card-sessions', proofs[i], `login-burst-${i}`)));
  retries.forEach((retry, n) => t.deepEqual(retry, replies[n % 6], `login-burst-${n % 6}: the first answer`));
  const used = await db('auth_challenges as a').join('mykey_certificates as c', 'c.cert_key', 'a.cert_key').join('mykeys as m', 'm.id', 'c.mykey_pk')
    .whereIn('a.id', challenges.map((c) => c.body.challengeId)).whereNotNull('a.signed_at').whereNotNull('a.consumed_at').select('a.id', 'm.mykey_id');
  t.deepEqual(Object.fromEntries(used.map((row) => [row.id, row.mykey_id])), Object.fromEntries(challenges.map((c, i) => [c.body.challengeId, ids[i]])),
    'every challenge signed and used up by its own card');
});

test('a challenge needs an Idempotency-Key and a known purpose', async (t) => {
  const { device } = await fixture();
  t.is((await device.post('/api/v1/auth/challenges', { purpose: 'payday' })).body.code, 'request_invalid');
  const again = await device.post('/api/v1/auth/challenges', { purpose: 'login' }, 'challenge-key-1');
  t.deepEqual(await device.post('/api/v1/auth/challenges', { purpose: 'login' }, 'challenge-key-1'), again, 'the same key gives the same challenge');
});
