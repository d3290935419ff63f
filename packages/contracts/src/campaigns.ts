// A campaign as the backend (backend/src/campaigns/) answers it and the console's campaign screen
// edits it: its terms, its status, its version, and what changed when an edit came too late.

export const CAMPAIGN_KINDS = ['conversion_premium', 'administrative', 'event'] as const;
export type CampaignKind = (typeof CAMPAIGN_KINDS)[number];

export const CAMPAIGN_STATUSES = ['planned', 'running', 'paused', 'ended'] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];

/** What a staff member may do to a campaign in each status; `edit` only before it starts. */
export const CAMPAIGN_ACTIONS = ['start', 'pause', 'resume', 'end'] as const;
export type CampaignAction = (typeof CAMPAIGN_ACTIONS)[number];

export const CAMPAIGN_TRANSITIONS: Record<CampaignAction, { from: CampaignStatus[]; to: CampaignStatus }> = {
  start: { from: ['planned'], to: 'running' },
  pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused'], to: 'running' },
  // A planned campaign that will not run is ended too: nothing was granted, its funding goes back.
  end: { from: ['planned', 'running', 'paused'], to: 'ended' },
};

/** How long the points a campaign grants stay valid: through a fixed Japanese date, or N months from the grant. */
export type PointsValidity = { until: string } | { months: number };

export const CAMPAIGN_NAME_MAX = 200;
export const CAMPAIGN_MAX_VALID_MONTHS = 120;
export const CAMPAIGN_MAX_LISTED = 500;

/** The terms staff set while a campaign is planned. `merchantIds`/`partnerIds` null: all take part. */
export interface CampaignTerms {
  kind: CampaignKind;
  nameJa: string;
  nameEn: string;
  startsOn: string;
  endsOn: string;
  /** Premium campaigns only; 0 for the others. */
  premiumPercent: number;
  capPerResidentPoints: number;
  budgetPoints: number;
  validity: PointsValidity;
  merchantIds: number[] | null;
  /** Premium campaigns only; null (all) for the others. */
  partnerIds: number[] | null;
}

export interface CampaignView extends CampaignTerms {
  id: number;
  slug: string;
  status: CampaignStatus;
  version: number;
  /** Whether it pays now: running, and today within its period. */
  paying: boolean;
  fundedPoints: number;
  budgetLeftPoints: number;
  returnedPoints: number;
}

/** The town's shops and the partners it has agreements with, for choosing who takes part. */
export interface CampaignChoices {
  merchants: Array<{ id: number; name: { ja: string; en: string } }>;
  partners: Array<{ id: number; name: { ja: string; en: string } }>;
}

/** The fields a version holds, in the order a conflict lists them. */
export const CAMPAIGN_FIELDS = [
  'status', 'kind', 'nameJa', 'nameEn', 'startsOn', 'endsOn', 'premiumPercent', 'capPerResidentPoints', 'budgetPoints', 'validity', 'merchantIds', 'partnerIds',
] as const;
export type CampaignField = (typeof CAMPAIGN_FIELDS)[number];

/** One field another staff member changed since the version an edit was made from. */
export interface CampaignChange { field: CampaignField; was: unknown; now: unknown }
