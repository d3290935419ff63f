// A hostile page in Chromium, of an origin the agent allows and holding the pairing token (a
// script injected into the console, say), against the real agent, pcscd, simulated card and
// backend. Whatever it sends, it gets no signature but the card sessions the console makes, no
// certificate, and it cannot spend the card's PIN tries beyond the rule: one try each time the
// resident places the card, never the last. Every test shares the card, so they run in order.
import test from 'ava';
import { X509Certificate } from 'node:crypto';
import type { Page } from 'playwright-core';
import { launchBrowser } from '@mykey/backend/test/helpers/browser.ts';
import { fileFixture, type Cleanup } from '@mykey/backend/test/helpers/env.ts';
import { httpServer } from '@mykey/backend/test/helpers/jpki.ts';
import { signInStaff } from '@mykey/backend/test/helpers/identity.ts';
import { parseMykeyId } from '@mykey/backend/mykey/id.ts';
import type { ApduRecord } from '../src/simulator/apdu-log.ts';
import { presentCardAgain } from './helpers/agent.ts';
import { readBody, relay } from './helpers/backend-stand-ins.ts';
import { enrolledAgent, stackWithCardFrom, trustingBackend } from './helpers/counter.ts';
import type { PcscStack } from './helpers/pcsc-stack.ts';

const PIN = '5830';
const WRONG_PIN = '2719';
// The page's own script: calls the agent with the pairing token it got hold of, one after
// another or all at once. Plain JavaScript in the page, as an attacker would ship it.
const HOSTILE_PAGE = `<!doctype html><html lang="ja"><title>キャンペーン</title><h1>ポイント2倍キャンペーン</h1>
<script>
window.callAgent = async (agentBase, token, calls, parallel) => {
  const one = async ({ method, path, body }) => {
    const response = await fetch(agentBase + path, {
      method,
      headers: Object.assign({ Authorization: 'Bearer ' + token }, body === undefined ? {} : { 'Content-Type': 'application/json' }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
  };
  if (parallel) return Promise.all(calls.map(one));
  const answers = [];
  for (const call of calls) answers.push(await one(call));
  return answers;
};
</script></html>`;



/**
 * Between the agent and the real backend: passes everything on, and while `tamper` is set
 * rewrites the challenge's text before the agent sees it (a server that is not ours, or a
 * network in the middle). Counts the card sessions that reach it.
 */
async function tamperingProxy(cleanup: Cleanup, base: string) {
  const state = { tamper: undefined as ((answer: Record<string, unknown>) => Record<string, unknown>) | undefined, cardSessions: 0 };
  const url = await httpServer(cleanup, async (request, response) => {
    if (request.url === '/api/v1/auth/card-sessions') state.cardSessions += 1;
    const answer = await relay(base, request, await readBody(request));
    const ok = answer.status >= 200 && answer.status < 300;
    const text = request.url === '/api/v1/auth/challenges' && ok && state.tamper ? JSON.stringify(state.tamper(JSON.parse(answer.text))) : answer.text;
    response.writeHead(answer.status, { 'Content-Type': answer.contentType });
    response.end(text);
  });
  return { url, state };
}

const fixture = fileFixture(test, async (cleanup) => {
  const { base, ca } = await trustingBackend(cleanup);
  const staff = await signInStaff(base, 'demo-city');
  const hostileOrigin = await httpServer(cleanup, (request, response) => {
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end(HOSTILE_PAGE);
  });
  const proxy = await tamperingProxy(cleanup, base);
  const stack = await stackWithCardFrom(cleanup, ca, PIN);
  // The counter PC allows the hostile page's origin, as it allows the console's.
  const { agent } = await enrolledAgent(cleanup, stack, base, staff, '窓口PC', { backendUrl: proxy.url, allowOrigins: [hostileOrigin] });
  const browser = await launchBrowser(cleanup);
  const context = await browser.newContext();
  cleanup(() => context.close());
  const page = await context.newPage();
  // Everything the page receives, to look for the certificate in at the end.
  const received: string[] = [];
  page.on('response', (response) => {
    if (!(response.headers()['content-type'] ?? '').startsWith('text/event-stream')) void response.text().then((text) => received.push(text), () => {});
  });
  await page.goto(hostileOrigin);
  return { stack, agent, page, proxy, received };
});

interface Answer { status: number; body: Record<string, unknown> }

/** The page's script calling the agent with the pairing token it holds. */
function fromPage(page: Page, agentBase: string, token: string, calls: Array<{ method: string; path: string; body?: unknown }>, parallel = false): Promise<Answer[]> {
  return page.evaluate(([base, key, list, together]) => (window as unknown as { callAgent: (...args: unknown[]) => Promise<Answer[]> }).callAgent(base, key, list, together),
    [agentBase, token, calls, parallel] as const);
}

function apdus(stack: PcscStack): ApduRecord[] {
  return stack.apduLog().filter((r): r is ApduRecord => r.type === 'apdu');
}

const codes = (answers: Answer[]) => answers.map((a) => a.body.code);

test.serial('every path but the console\'s answers 404, and none of them reaches the card', async (t) => {
  const { stack, agent, page } = await fixture();
  const before = apdus(stack).length;
  const paths = ['/v1/signatures', '/v1/identity', '/v1/sign', '/v1/signature', '/v1/card', '/v1/certificate', '/v1/certificates',
    '/v1/apdu', '/v1/pin', '/v1/verify', '/v1/card-sessions/1', '/v2/signatures', '/v1', '/'];
  const calls: Array<{ method: string; path: string; body?: unknown }> = paths.flatMap((path) => [{ method: 'GET', path }, { method: 'POST', path, body: { pin: PIN, challenge: 'AA==', reader: 'Virtual PCD 00 00' } }]);
  calls.push({ method: 'GET', path: '/v1/card-sessions' }, { method: 'POST', path: '/v1/status', body: {} }, { method: 'POST', path: '/v1/events', body: {} });
  const answers = await fromPage(page, agent.base, agent.token, calls);
  for (const [i, answer] of answers.entries()) t.like(answer, { status: 404, body: { code: 'not_found' } }, `${calls[i]!.method} ${calls[i]!.path}`);
  t.is(apdus(stack).length, before, 'not one APDU went to the card');
  const [status] = await fromPage(page, agent.base, agent.token, [{ method: 'GET', path: '/v1/status' }]);
  t.is(status!.status, 200, 'the page does reach the agent');
});

test.serial('a challenge whose text is not the platform\'s gets no signature; the canonical one gets a MyKey ID, not a signature', async (t) => {
  const { stack, agent, page, proxy } = await fixture();
  const tampered: Record<string, (answer: Record<string, unknown>) => Record<string, unknown>> = {
    'arbitrary bytes': (answer) => ({ ...answer, challenge: Buffer.from('振込 100,000 円を承認します').toString('base64') }),
    'an extra line': (answer) => ({ ...answer, challenge: Buffer.concat([Buffer.from(String(answer.challenge), 'base64'), Buffer.from('amount: 100000\n')]).toString('base64') }),
    'another device\'s text': (answer) => ({ ...answer, challenge: Buffer.from(Buffer.from(String(answer.challenge), 'base64').toString('utf8').replace(/device: \d+/, 'device: 999999')).toString('base64') }),
  };
  const before = apdus(stack).length;
  for (const [what, tamper] of Object.entries(tampered)) {
    proxy.state.tamper = tamper;
    const [answer] = await fromPage(page, agent.base, agent.token, [{ method: 'POST', path: '/v1/card-sessions', body: { pin: PIN, purpose: 'login' } }]);
    t.like(answer, { status: 502, body: { code: 'challenge_not_canonical' } }, what);
  }
  t.is(apdus(stack).length, before, 'not one APDU went to the card');
  t.is(proxy.state.cardSessions, 0, 'nothing signed left the agent');

  proxy.state.tamper = undefined;
  const [honest] = await fromPage(page, agent.base, agent.token, [{ method: 'POST', path: '/v1/card-sessions', body: { pin: PIN, purpose: 'login' } }]);
  t.is(honest!.status, 200, JSON.stringify(honest!.body));
  t.like(parseMykeyId(String(honest!.body.mykeyId)), { ok: true });
  t.deepEqual(Object.keys(honest!.body).filter((key) => /certificate|signature/i.test(key)), []);
  t.is(proxy.state.cardSessions, 1);
});

// Last but one: it leaves the card with one try.
test.serial('wrong PINs posted by the script spend one try per placing of the card, and never the last', async (t) => {
  const { stack, agent, page } = await fixture();
  t.is(await stack.pinTriesLeft(), 3);
  const wrong = { method: 'POST', path: '/v1/card-sessions', body: { pin: WRONG_PIN, purpose: 'login' } };

  // All at once, to race the rule: one reaches the card.
  const burst = await fromPage(page, agent.base, agent.token, Array(8).fill(wrong), true);
  t.deepEqual(codes(burst).sort(), ['pin_wrong', ...Array(7).fill('pin_needs_card_again')].sort());
  const after = await fromPage(page, agent.base, agent.token, Array(8).fill(wrong));
  t.deepEqual(codes(after), Array(8).fill('pin_needs_card_again'));
  t.is(await stack.pinTriesLeft(), 2);

  // The resident places the card again; the script, first to post, spends that placing's try.
  await presentCardAgain(stack, agent);
  const second = await fromPage(page, agent.base, agent.token, Array(8).fill(wrong));
  t.deepEqual(codes(second), ['pin_last_try', ...Array(7).fill('pin_needs_card_again')]);
  t.is(await stack.pinTriesLeft(), 1);

  // However often the card is placed, the last try is never spent, not even for the right PIN.
  await presentCardAgain(stack, agent);
  const third = await fromPage(page, agent.base, agent.token, [...Array(8).fill(wrong), { ...wrong, body: { pin: PIN, purpose: 'login' } }], true);
  t.deepEqual(codes(third), Array(9).fill('pin_one_try_left'));
  t.is(await stack.pinTriesLeft(), 1, 'the card is not locked');
});

test.serial('no certificate ever reached the page', async (t) => {
  const { stack, received } = await fixture();
  const der = new X509Certificate(stack.certificatePem).raw;
  const base64 = der.toString('base64');
  // Its key and serial, which any copy of the certificate would carry, in the encodings a page would use.
  const pieces = [base64, base64.slice(200, 264), der.subarray(150, 182).toString('hex'), der.subarray(150, 182).toString('hex').toUpperCase(), der.subarray(150, 182).toString('base64url')];
  t.true(received.length > 40, `the page's ${received.length} answers were recorded`);
  for (const piece of pieces) t.false(received.some((text) => text.includes(piece)), piece);
});
