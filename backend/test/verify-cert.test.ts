// `npm run mykey -- verify-cert FILE` as an operator runs it: a child process, the configured
// anchors and CRLs (a file, and a URL on a real local server), one JSON object on stdout.
import test from 'ava';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { createCa, issueCertificate, issueCrl } from '@mykey/dev-tools/dev-ca/index.ts';
import { fileFixture } from './helpers/env.ts';
import { httpServer, mintCustom, writeFiles } from './helpers/jpki.ts';

const DAY = 86_400_000;

const setup = fileFixture(test, async (cleanup) => {
  const [ca, signCa, stranger] = [await createCa({ kind: 'auth' }), await createCa({ kind: 'sign' }), await createCa({ kind: 'auth' })];
  const [good, lost, lostByUrl] = [await issueCertificate(ca), await issueCertificate(ca), await issueCertificate(ca)];
  const fileCrl = await issueCrl(ca, { revoked: [{ serialNumberHex: lost.serialNumberHex }] });
  const urlCrl = await issueCrl(ca, { revoked: [{ serialNumberHex: lostByUrl.serialNumberHex }] });
  const base = await httpServer(cleanup, (req, res) => (req.url === '/auth.crl' ? res.end(urlCrl.der) : res.writeHead(500).end()));
  const files = writeFiles(cleanup, {
    'anchors.pem': ca.certificatePem,
    'crl.pem': fileCrl.pem,
    'good.pem': good.certificatePem,
    'good.der': good.certificateDer,
    'lost.pem': lost.certificatePem,
    'lost-by-url.pem': lostByUrl.certificatePem,
    'expired.pem': (await issueCertificate(ca, { notBefore: new Date(Date.now() - 400 * DAY), notAfter: new Date(Date.now() - DAY) })).certificatePem,
    'future.pem': (await issueCertificate(ca, { notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 400 * DAY) })).certificatePem,
    'stranger.pem': (await issueCertificate(stranger)).certificatePem,
    'signing.pem': (await issueCertificate(signCa)).certificatePem,
    'weak.der': await mintCustom(ca, { bits: 1024 }),
    'two.pem': good.certificatePem + lost.certificatePem,
    'key.pem': good.privateKeyPem,
    'garbage.bin': 'not a certificate, not even close',
    'huge.bin': Buffer.alloc(1024 * 1024, 0x30),
  });
  return { files, base, good };
});

interface Run { code: number; json: Record<string, unknown>; stdout: string; stderr: string }

function verifyCert(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'scripts/mykey.ts', 'verify-cert', ...args],
      { env: { PATH: process.env.PATH, NODE_ENV: 'test', ...env }, encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
        const lines = stdout.trim().split('\n');
        resolve({ code: error ? Number(error.code) : 0, json: lines.length === 1 ? JSON.parse(lines[0]!) : { notOneLine: stdout }, stdout, stderr });
      });
  });
}

async function anchorsOnly(): Promise<Record<string, string>> {
  return { JPKI_TRUST_ANCHORS: (await setup()).files['anchors.pem'] };
}

/** Anchors and one CRL source: the file (revoking lost.pem) or the URL (revoking lost-by-url.pem). */
async function withCrl(kind: 'file' | 'url'): Promise<Record<string, string>> {
  const { files, base } = await setup();
  return { JPKI_TRUST_ANCHORS: files['anchors.pem'], ...(kind === 'file' ? { JPKI_CRL_FILES: files['crl.pem'] } : { JPKI_CRL_URLS: `${base}/auth.crl` }) };
}

test('accepted: PEM with the CRLs checked; exit 0 and exactly these fields', async (t) => {
  const { files, good } = await setup();
  const run = await verifyCert([files['good.pem']], await withCrl('url'));
  t.is(run.code, 0);
  t.deepEqual(run.json, { verdict: 'accepted', serial: good.serialNumberHex, notAfter: good.notAfter.toISOString(), revocationChecked: true });
});

test('accepted: DER with no CRL configured says revocation was not checked; --value-moving then refuses under fail-closed and not under fail-open', async (t) => {
  const { files } = await setup();
  const login = await verifyCert([files['good.der']], await anchorsOnly());
  t.is(login.code, 0);
  t.like(login.json, { verdict: 'accepted', revocationChecked: false });
  const moving = await verifyCert(['--value-moving', files['good.der']], await anchorsOnly());
  t.is(moving.code, 1);
  t.like(moving.json, { verdict: 'refused', code: 'certificate_revocation_unknown' });
  const open = await verifyCert(['--value-moving', files['good.der']], { ...(await anchorsOnly()), JPKI_REVOCATION_POLICY: 'fail-open' });
  t.is(open.code, 0);
  t.like(open.json, { verdict: 'accepted', revocationChecked: false });
});

const refusals: Array<[string, string, 'file' | 'url' | undefined]> = [
  ['lost.pem', 'certificate_revoked', 'file'],
  ['lost-by-url.pem', 'certificate_revoked', 'url'],
  ['expired.pem', 'certificate_expired', undefined],
  ['future.pem', 'certificate_not_yet_valid', undefined],
  ['stranger.pem', 'certificate_untrusted', undefined],
  ['signing.pem', 'certificate_wrong_type', undefined],
  ['weak.der', 'certificate_key_weak', undefined],
  ['two.pem', 'certificate_malformed', undefined],
  ['key.pem', 'certificate_malformed', undefined],
  ['garbage.bin', 'certificate_malformed', undefined],
  ['huge.bin', 'certificate_malformed', undefined],
];

for (const [file, code, crl] of refusals) {
  test(`refused: ${file} is ${code}, exit 1`, async (t) => {
    const { files } = await setup();
    const run = await verifyCert([files[file as keyof typeof files]], crl ? await withCrl(crl) : await anchorsOnly());
    t.is(run.code, 1, run.stderr);
    t.like(run.json, { verdict: 'refused', code });
    t.is(typeof run.json.detail, 'string');
  });
}

test('a CRL source that fails is named on stderr; stdout still holds one verdict', async (t) => {
  const { files, base } = await setup();
  const run = await verifyCert([files['good.pem']], { ...(await anchorsOnly()), JPKI_CRL_URLS: `${base}/broken.crl` });
  t.is(run.code, 0);
  t.like(run.json, { verdict: 'accepted', revocationChecked: false });
  t.regex(run.stderr, new RegExp(`CRL ${base}/broken.crl not used: crl_http_status`));
});

test('exit 2: unreadable file, usage errors, a bad anchor bundle — each one JSON object with a code', async (t) => {
  const { files } = await setup();
  const env = await anchorsOnly();
  const cases: Array<[string[], Record<string, string>, string]> = [
    [['/nonexistent/card.pem'], env, 'file_unreadable'],
    [[tmpdir()], env, 'file_unreadable'],
    [[], env, 'usage'],
    [[files['good.pem'], files['lost.pem']], env, 'usage'],
    [['--no-such-option', files['good.pem']], env, 'usage'],
    [[files['good.pem']], { JPKI_TRUST_ANCHORS: files['good.pem'] }, 'config_invalid'],
  ];
  for (const [args, caseEnv, code] of cases) {
    const run = await verifyCert(args, caseEnv);
    t.is(run.code, 2, `${args.join(' ')}: ${run.stdout}`);
    t.like(run.json, { verdict: 'error', code }, args.join(' '));
  }
});
