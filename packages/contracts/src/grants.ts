// What the backend answers about points granted by municipal staff (backend/src/grants/), as
// the console's grant screen reads it: campaigns to grant from, one grant, a file's summary.
import type { CampaignKind } from './campaigns.ts';

export interface GrantCampaign {
  id: number;
  slug: string;
  /** Administrative grants take an `administrative` campaign, events an `event` one (docs/campaigns.md). */
  kind: CampaignKind;
  name: { ja: string; en: string };
  startsOn: string;
  endsOn: string;
  running: boolean;
  capPerResidentPoints: number;
  budgetLeftPoints: number;
}

export type CampaignRef = Pick<GrantCampaign, 'id' | 'slug' | 'name'>;

export interface GrantedPoints {
  entryId: number;
  mykeyId: string;
  points: number;
  campaign: CampaignRef;
  /** What the points were for (docs/events.md); null: uncategorised. */
  category: { id: number; nameJa: string; nameEn: string } | null;
  balanceAfter: number;
  reference: string;
}

export interface UploadCounts { granted: number; alreadyGranted: number; refused: number; pointsGranted: number }

export interface GrantFileSummary extends UploadCounts {
  uploadId: number;
  fileSha256: string;
  campaign: CampaignRef;
  /** Lines after the header. */
  records: number;
  /** Where the line-by-line result file is downloaded. */
  resultPath: string;
}

/** How a grant was made: one by staff, a line of a CSV file, or a tap at an event. */
export type GrantSource = 'single' | 'file' | 'event';

/** One of a campaign's latest grants (`GET /api/v1/staff/grants?campaign=`), with what it was for. */
export interface RecentGrant {
  entryId: number;
  postedAt: string;
  mykeyId: string;
  points: number;
  source: GrantSource;
  categoryId: number | null;
  eventId: number | null;
  /** The event's name, else the category's, as it was when granted; null: uncategorised. */
  label: { ja: string; en: string } | null;
}
