export const paths = {
  root: '/',
  signIn: '/sign-in',
  merchant: '/merchant',
  municipality: '/municipality',
  merchantDevices: '/merchant/devices',
  municipalityDevices: '/municipality/devices',
  municipalityMykeys: '/municipality/mykeys',
  municipalityGrants: '/municipality/grants',
  municipalitySettlement: '/municipality/settlement',
  municipalityUsage: '/municipality/usage',
  municipalityServices: '/municipality/services',
  municipalityShelters: '/municipality/shelters',
  municipalityShelterSummary: '/municipality/shelters/summary',
  municipalityShelterDesk: '/municipality/shelters/desk',
  municipalityMemberCards: '/municipality/member-cards',
  municipalityFamily: '/municipality/family',
  municipalityEvents: '/municipality/events',
  municipalityEventReception: '/municipality/event-reception',
  municipalityCampaigns: '/municipality/campaigns',
  municipalityCampaignFigures: '/municipality/campaign-figures',
  municipalityExpiringPoints: '/municipality/expiring-points',
  merchantRegister: '/merchant/register',
  merchantSettlement: '/merchant/settlement',
  municipalityShops: '/municipality/shops',
  shopApply: '/shops/apply',
  merchantStaff: '/merchant/staff',
  municipalityStaff: '/municipality/staff',
  municipalityPartners: '/municipality/partners',
  invitation: '/invitation',
  mine: '/mine',
  totpEnrolment: '/two-step-setup',
  account: '/account',
} as const;

export type RouteName = 'root' | 'sign-in' | 'merchant' | 'municipality' | 'merchant-devices' | 'municipality-devices' | 'municipality-mykeys' | 'municipality-grants' | 'municipality-settlement' | 'municipality-services' | 'municipality-member-cards' | 'municipality-family' | 'municipality-usage' | 'municipality-shelters' | 'municipality-shelter-summary' | 'municipality-shelter-desk' | 'municipality-events' | 'municipality-event-reception' | 'municipality-campaigns' | 'municipality-campaign-figures' | 'municipality-expiring-points' | 'merchant-register' | 'merchant-staff' | 'municipality-staff' | 'municipality-partners' | 'invitation' | 'mine' | 'merchant-settlement' | 'municipality-shops' | 'shop-apply' | 'totp-enrolment' | 'account' | 'not-found';

const routesByPath: Record<string, RouteName> = {
  [paths.root]: 'root',
  [paths.signIn]: 'sign-in',
  [paths.merchant]: 'merchant',
  [paths.municipality]: 'municipality',
  [paths.merchantDevices]: 'merchant-devices',
  [paths.municipalityDevices]: 'municipality-devices',
  [paths.municipalityMykeys]: 'municipality-mykeys',
  [paths.municipalityGrants]: 'municipality-grants',
  [paths.municipalitySettlement]: 'municipality-settlement',
  [paths.municipalityUsage]: 'municipality-usage',
  [paths.municipalityServices]: 'municipality-services',
  [paths.municipalityShelters]: 'municipality-shelters',
  [paths.municipalityShelterSummary]: 'municipality-shelter-summary',
  [paths.municipalityShelterDesk]: 'municipality-shelter-desk',
  [paths.municipalityMemberCards]: 'municipality-member-cards',
  [paths.municipalityFamily]: 'municipality-family',
  [paths.municipalityEvents]: 'municipality-events',
  [paths.municipalityEventReception]: 'municipality-event-reception',
  [paths.municipalityCampaigns]: 'municipality-campaigns',
  [paths.municipalityCampaignFigures]: 'municipality-campaign-figures',
  [paths.municipalityExpiringPoints]: 'municipality-expiring-points',
  [paths.merchantRegister]: 'merchant-register',
  [paths.merchantSettlement]: 'merchant-settlement',
  [paths.municipalityShops]: 'municipality-shops',
  [paths.shopApply]: 'shop-apply',
  [paths.merchantStaff]: 'merchant-staff',
  [paths.municipalityStaff]: 'municipality-staff',
  [paths.municipalityPartners]: 'municipality-partners',
  [paths.invitation]: 'invitation',
  [paths.mine]: 'mine',
  [paths.totpEnrolment]: 'totp-enrolment',
  [paths.account]: 'account',
};

/** The console a route belongs to, or null for the public pages and the screens of every staff member (consoleOf's callers check those apart). */
export function consoleOf(name: RouteName): 'merchant' | 'municipality' | null {
  if (name === 'merchant' || name === 'merchant-devices' || name === 'merchant-register' || name === 'merchant-settlement' || name === 'merchant-staff') return 'merchant';
  if (name === 'municipality' || name === 'municipality-devices' || name === 'municipality-mykeys' || name === 'municipality-grants' || name === 'municipality-settlement'
    || name === 'municipality-services' || name === 'municipality-member-cards' || name === 'municipality-family' || name === 'municipality-usage'
    || name === 'municipality-shelters' || name === 'municipality-shelter-summary' || name === 'municipality-shelter-desk'
    || name === 'municipality-events' || name === 'municipality-event-reception' || name === 'municipality-campaigns'
    || name === 'municipality-campaign-figures' || name === 'municipality-expiring-points' || name === 'municipality-shops' || name === 'municipality-staff' || name === 'municipality-partners') return 'municipality';
  return null;
}

// "/merchant/" typed by hand should open the console, not the not-found screen.
function normalise(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

/** A campaign's dashboard: the programme's figures screen, narrowed to the campaign (the campaigns screen links here). */
export const campaignFiguresPath = (campaignId: number) => `${paths.municipalityCampaignFigures}/${campaignId}`;

/** The campaign a dashboard's path names, if it is one. */
export function campaignOfPath(path: string): number | undefined {
  const match = /^\/municipality\/campaign-figures\/([1-9][0-9]{0,15})$/.exec(normalise(path));
  return match ? Number(match[1]) : undefined;
}

export function matchRoute(path: string): RouteName {
  if (campaignOfPath(path) !== undefined) return 'municipality-campaign-figures';
  return routesByPath[normalise(path)] ?? 'not-found';
}

class Router {
  path: string = $state(window.location.pathname);
  /**
   * Counts navigations the user asked for (links, back/forward, sign-in and sign-out),
   * but not redirects, so focus moves only when the user expects the page to change.
   */
  userNavigations: number = $state(0);
}

export const router = new Router();

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (options.replace) {
    history.replaceState(null, '', to);
  } else {
    history.pushState(null, '', to);
    router.userNavigations += 1;
  }
  router.path = window.location.pathname;
}

export function listenToHistory(): () => void {
  const onPopState = (): void => {
    router.path = window.location.pathname;
    router.userNavigations += 1;
  };
  window.addEventListener('popstate', onPopState);
  return () => window.removeEventListener('popstate', onPopState);
}

// Modified clicks (new tab, new window, download) are left to the browser.
function isPlainClick(event: MouseEvent): boolean {
  return event.button === 0 && !event.metaKey && !event.ctrlKey && !event.shiftKey && !event.altKey;
}

/** Click handler for same-origin <a> elements so they change screens without a reload. */
export function followLink(event: MouseEvent & { currentTarget: HTMLAnchorElement }): void {
  const link = event.currentTarget;
  if (!isPlainClick(event) || link.origin !== window.location.origin || link.target !== '') return;
  event.preventDefault();
  navigate(link.pathname + link.search + link.hash);
}
