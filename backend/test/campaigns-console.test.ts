// The municipality console's キャンペーン screen in Chromium, against the real backend, in
// Japanese and in English: an administrator plans a campaign with the keyboard, meets another
// staff member's edit (shown field by field, nothing typed lost), funds, starts and ends it, each
// after a confirmation; an auditor reads the list and is offered no change.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { checkLedger } from '../src/ledger/check.ts';
import { tokyoDate } from '../src/ledger/rules.ts';
import { launchBrowser, screenshotPath, signedInPage } from './helpers/browser.ts';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { signInStaff } from './helpers/identity.ts';
import { startApp } from './helpers/server.ts';

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  await db.seed.run();
  const base = await startApp(cleanup, db);
  return { db, base, browser: await launchBrowser(cleanup), colleague: await signInStaff(base, 'demo-city') };
});

const DAY = 86_400_000;
const inDays = (days: number) => tokyoDate(new Date(Date.now() + days * DAY));

interface Words {
  language: 'ja' | 'en'; menu: string; heading: string; kindAdministrative: string; nameJa: string; nameEn: string; startsOn: string; endsOn: string;
  cap: string; budget: string; validMonths: string; monthsCount: string; allMerchants: string; bakery: string; plan: string; planned: RegExp;
  edit: string; save: string; conflictCaption: RegExp; budgetField: string; saveMine: string; saved: RegExp; fund: string; start: string; end: string;
  running: string; ended: string; returned: RegExp; dialogFund: RegExp; dialogEnd: RegExp; statusDone: RegExp;
}

const JA: Words = {
  language: 'ja', menu: 'キャンペーン', heading: 'キャンペーン', kindAdministrative: '行政ポイント', nameJa: 'キャンペーン名（日本語）', nameEn: 'キャンペーン名（英語）',
  startsOn: '開始日', endsOn: '終了日', cap: '1人あたりの上限（pt）', budget: '総予算（pt）', validMonths: '付与から一定の月数だけ有効', monthsCount: '有効な月数',
  allMerchants: '自治体のすべての店舗', bakery: 'みらいベーカリー', plan: '計画する', planned: /を計画しました。/, edit: '編集', save: '保存する',
  conflictCaption: /別の職員による変更（現在の版 2）/, budgetField: '総予算', saveMine: '入力した内容で上書き保存する', saved: /を保存しました。/,
  fund: '予算を入金', start: '開始', end: '終了', running: '実施中', ended: '終了', returned: /終了時に 60,000 pt を戻し入れ/,
  dialogFund: /予算を入金しますか/, dialogEnd: /終了しますか/, statusDone: /しました（状態: /,
};

const EN: Words = {
  language: 'en', menu: 'Campaigns', heading: 'Campaigns', kindAdministrative: 'Administrative points', nameJa: 'Campaign name (Japanese)', nameEn: 'Campaign name (English)',
  startsOn: 'First day', endsOn: 'Last day', cap: 'Cap per resident (pt)', budget: 'Total budget (pt)', validMonths: 'Valid for a number of months from the grant', monthsCount: 'Months valid',
  allMerchants: 'Every shop of the town', bakery: 'Mirai Bakery', plan: 'Plan it', planned: /is planned\./, edit: 'Edit', save: 'Save',
  conflictCaption: /Changed by another staff member \(now version 2\)/, budgetField: 'Total budget', saveMine: 'Save what you typed over them', saved: /is saved\./,
  fund: 'Fund the budget', start: 'Start', end: 'End', running: 'Running', ended: 'Ended', returned: /60,000 pt returned at the end/,
  dialogFund: /Fund the budget: /, dialogEnd: /End: /, statusDone: /done \(status: /,
};

for (const w of [JA, EN]) {
  test(`(${w.language}) an administrator plans a campaign, meets a colleague's edit field by field, funds, starts and ends it`, async (t) => {
    const { db, base, browser, colleague } = await fixture();
    const tag = randomBytes(3).toString('hex');
    const [nameJa, nameEn] = [`春の応援 ${tag}`, `Spring support ${tag}`];
    const page = await signedInPage(t, browser, base, 'demo-city', '自治体コンソール');
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    if (w.language === 'en') {
      await page.getByRole('button', { name: 'English' }).click();
      await page.getByRole('heading', { level: 1, name: 'Municipality console' }).waitFor();
    }
    await page.getByRole('link', { name: w.menu, exact: true }).click();
    await page.waitForURL(`${base}/municipality/campaigns`);
    await page.getByRole('heading', { level: 2, name: w.heading }).waitFor();

    // Planned with the keyboard alone: fields, choices, Enter.
    await page.getByRole('radio', { name: w.kindAdministrative }).check();
    await page.getByLabel(w.nameJa).fill(nameJa);
    await page.getByLabel(w.nameEn).fill(nameEn);
    await page.getByLabel(w.startsOn, { exact: true }).fill(inDays(0));
    await page.getByLabel(w.endsOn, { exact: true }).fill(inDays(30));
    await page.getByLabel(w.cap).fill('5000');
    await page.getByLabel(w.budget).fill('100000');
    await page.getByRole('radio', { name: w.validMonths }).check();
    await page.getByLabel(w.monthsCount).fill('6');
    await page.getByRole('checkbox', { name: w.allMerchants }).uncheck();
    await page.getByRole('checkbox', { name: w.bakery }).check();
    await page.getByLabel(w.monthsCount).press('Enter');
    await page.getByRole('status').filter({ hasText: w.planned }).waitFor();
    const id = Number((await db('campaigns').where({ name_ja: nameJa }).first('id')).id);
    t.like(await db('campaigns').where({ id }).first('status', 'kind', 'points_valid_months', 'all_merchants', 'budget_points'),
      { status: 'planned', kind: 'administrative', points_valid_months: 6, all_merchants: 0, budget_points: 100_000 });
    t.deepEqual(await db('campaign_merchants').where({ campaign_id: id }).pluck('merchant_id'), [(await db('merchants').where({ slug: 'demo-bakery' }).first('id')).id]);
    const row = page.getByRole('row', { name: new RegExp(nameJa) });

    // Opened for editing at version 1; meanwhile a colleague raises the budget.
    await row.getByRole('button', { name: new RegExp(`^${w.edit}`) }).click();
    t.true(await page.getByLabel(w.nameJa).evaluate((input) => input === document.activeElement), 'the form takes the focus');
    const current = (await colleague.get(`/api/v1/campaigns/${id}`)).body;
    const { id: _id, slug: _slug, status: _status, version: _version, paying: _p, fundedPoints: _f, budgetLeftPoints: _l, returnedPoints: _r, ...terms } = current;
    t.is((await colleague.put(`/api/v1/campaigns/${id}`, { version: 1, terms: { ...terms, budgetPoints: 150_000 } })).status, 200);
    await page.getByLabel(w.nameEn).fill(`${nameEn} (edited)`);
    await page.getByRole('button', { name: w.save, exact: true }).click();
    const conflict = page.getByRole('table', { name: w.conflictCaption });
    await conflict.waitFor();
    t.deepEqual(await conflict.getByRole('row', { name: new RegExp(`^${w.budgetField}`) }).getByRole('cell').allTextContents(), ['100,000', '150,000']);
    t.is(await page.getByLabel(w.nameEn).inputValue(), `${nameEn} (edited)`, 'what was typed is still there');
    await page.screenshot({ path: screenshotPath(`municipality-campaigns-conflict-${w.language}.png`), fullPage: true });
    await page.getByRole('button', { name: w.saveMine }).click();
    await page.getByRole('status').filter({ hasText: w.saved }).waitFor();
    t.like(await db('campaigns').where({ id }).first('name_en', 'budget_points', 'version'), { name_en: `${nameEn} (edited)`, budget_points: 100_000, version: 3 },
      'saved over version 2 by choice: the typed budget (100,000) stands, as the person saw and chose');

    // Funded (the amount offered is what is left to fund), started, then ended: each confirmed.
    const step = async (label: string, dialogTitle: RegExp, done: RegExp) => {
      await row.getByRole('button', { name: new RegExp(`^${label}`) }).click();
      const dialog = page.getByRole('dialog', { name: dialogTitle });
      await dialog.waitFor();
      await dialog.getByRole('button', { name: label, exact: true }).click();
      await page.getByRole('status').filter({ hasText: done }).waitFor();
    };
    await step(w.fund, w.dialogFund, w.statusDone);
    await step(w.start, new RegExp(`${w.start}`), new RegExp(w.running));
    t.like(await db('campaigns').where({ id }).first('status'), { status: 'running' });
    // 40,000 granted meanwhile, so 60,000 go back at the end.
    const { grantPoints, inLedgerTransaction } = await import('../src/ledger/ledger.ts');
    const { addResident } = await import('./helpers/partners.ts');
    for (let i = 0; i < 10; i++) {
      await inLedgerTransaction(db, async (trx) => grantPoints(trx, { reference: `test:${tag}:${i}`, campaignId: id, kind: 'administrative', mykeyId: await addResident(db), points: 4_000 }));
    }
    await step(w.end, w.dialogEnd, new RegExp(w.ended));
    await row.getByText(w.returned).waitFor();
    t.is(await row.getByRole('button').count(), 0, 'an ended campaign offers nothing more');
    await page.screenshot({ path: screenshotPath(`municipality-campaigns-${w.language}.png`), fullPage: true });
    t.deepEqual(errors, [], 'the page threw nothing');
    const report = await checkLedger(db);
    t.true(report.ok, JSON.stringify(report.violations.slice(0, 5)));
  });
}

test('an auditor reads the campaigns, is offered no change, and follows a campaign\'s name to its figures', async (t) => {
  const { base, browser } = await fixture();
  const page = await signedInPage(t, browser, base, 'demo-auditor', '自治体コンソール');
  await page.getByRole('link', { name: 'キャンペーン', exact: true }).click();
  const table = page.getByRole('table');
  await table.getByRole('row', { name: /みらい市 地域応援ポイント 2026/ }).waitFor();
  t.is(await table.getByRole('button').count(), 0);
  t.is(await page.getByRole('heading', { name: 'キャンペーンを計画する' }).count(), 0);
  // A campaign's name leads to its figures.
  await table.getByRole('link', { name: /みらい市 地域応援ポイント 2026/ }).click();
  await page.getByRole('heading', { name: /^みらい市 地域応援ポイント 2026.* の実績$/, level: 2 }).waitFor();
});
