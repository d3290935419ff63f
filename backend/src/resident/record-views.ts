// Who looked at my record (docs/resident.md): every look at the resident's record by staff, and
// everything staff did to it, from the audit log, as the resident reads it: the town, the staff
// member's roles, when, and what in words. Never the staff member's name, id or login, and never
// what staff wrote (a reason may name people): the log's ids are turned into words here.
import { staffEventsAbout, type StaffEvent } from '../audit/chain.ts';
import type { Db } from '../db.ts';
import { townServicesRepository } from '../town-services/repository.ts';
import type { Messages } from '@mykey/contracts/problem-kinds.ts';
import { RECORD_VIEWS_PAGE_SIZE, type RecordView, type ResidentRecordViews } from '@mykey/contracts/resident.ts';
import { municipalityNames, type OpenSession } from './service.ts';

interface Described { look: boolean; what: Messages }

/** The services' names that membership events' words need, read once for the page. */
type Services = Map<number, Messages>;

/** The service a membership event names (services are never deleted). */
const serviceOf = (details: Record<string, unknown>, services: Services): Messages => services.get(Number(details.service))!;

const look = (ja: string, en: string): Described => ({ look: true, what: { ja, en } });
const act = (ja: string, en: string): Described => ({ look: false, what: { ja, en } });

/** Each staff event about a MyKey ID, in the resident's words. */
const WORDS: Record<string, (details: Record<string, unknown>, services: Services) => Described> = {
  'mykey.viewed': (d) => (d.scope === 'town'
    ? look('この自治体でのあなたの利用状況（利用停止の有無など）を確認しました', 'Checked your standing in this municipality (whether your use is stopped here)')
    : look('あなたの記録（状態・カード・履歴）を見ました', 'Looked at your record (its status, cards and history)')),
  'grant_history.viewed': () => look('あなたへのポイント付与の記録を見ました', 'Looked at the points granted to you'),
  'membership.viewed': (d, services) => look(`利用者番号から、${serviceOf(d, services).ja}でのあなたの利用者登録を確認しました`, `Looked up your membership of ${serviceOf(d, services).en} by its member number`),
  'staff.isolation_refused': () => look('あなたの記録を見ようとしましたが、ほかの自治体の記録のため見られませんでした',
    'Tried to look at your record, and was refused: it is kept by another municipality'),
  'mykey.suspended': () => act('あなたのマイキーIDを停止しました', 'Suspended your MyKey ID'),
  'mykey.reinstated': () => act('あなたのマイキーIDの停止を解除しました', 'Lifted the suspension of your MyKey ID'),
  'mykey.blocked': () => act('この自治体のサービスでのあなたの利用を止めました', "Stopped your use of this municipality's services"),
  'mykey.unblocked': () => act('この自治体のサービスでのあなたの利用停止を解除しました', "Lifted the stop on your use of this municipality's services"),
  'mykey.relinked': () => act('窓口で、新しいカードをあなたのマイキーIDにつなぎました', 'Linked a new card to your MyKey ID at the counter'),
  'points.granted': (d) => act(`あなたにポイントを付与しました（${Number(d.points).toLocaleString('ja-JP')}ポイント）`, `Granted you ${Number(d.points).toLocaleString('en-US')} points`),
  'membership.unlinked': (d, services) => act(`${serviceOf(d, services).ja}の利用者登録とあなたのカードのつながりを外しました`, `Unlinked your membership of ${serviceOf(d, services).en} from your card`),
};

/**
 * An event this page has no words for yet still shows, by its name in the log: the resident is
 * promised every staff event, and a new kind must not vanish from the list until it has words.
 */
const described = (event: StaffEvent, services: Services): Described => WORDS[event.action]?.(event.details, services)
  ?? act(`あなたの記録に関する操作（${event.action}）`, `Something done to your record (${event.action})`);

/** The names of the services these events name (membership events: `details.service`). */
async function serviceNames(db: Db, events: StaffEvent[]): Promise<Services> {
  const ids = [...new Set(events.filter((e) => e.action.startsWith('membership.')).map((e) => Number(e.details.service)))];
  return new Map(await Promise.all(ids.map(async (id) => {
    const service = (await townServicesRepository.service(db, id))!;
    return [id, { ja: service.nameJa, en: service.nameEn }] as const;
  })));
}

/** A page (from 1) of what staff looked at and did on the session's MyKey ID, newest first. */
export async function recordViewsOf(db: Db, session: OpenSession, page: number): Promise<ResidentRecordViews> {
  const { total, events } = await staffEventsAbout(db, session.mykeyId, { limit: RECORD_VIEWS_PAGE_SIZE, offset: (page - 1) * RECORD_VIEWS_PAGE_SIZE });
  const [names, services] = await Promise.all([municipalityNames(db, [...new Set(events.map((e) => e.municipalityCode))]), serviceNames(db, events)]);
  const views = events.map((event): RecordView => ({
    at: event.occurredAt.toISOString(),
    municipality: { code: event.municipalityCode, name: names.get(event.municipalityCode)! },
    roles: event.roles,
    ...described(event, services),
  }));
  return { page, pageSize: RECORD_VIEWS_PAGE_SIZE, total, views };
}
