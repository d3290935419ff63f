import type { OrganizationKind } from '@mykey/contracts/staff.ts';

/** Who owns a staff account or a device: a shop (merchant id) or a municipality (its code). */
export interface OrganizationRef { kind: OrganizationKind; id: string }

export interface OrganizationColumns { merchant_id: number | null; municipality_code: string | null }

/** The two columns every organization-owned table has, exactly one of them set. */
export function organizationColumns(organization: OrganizationRef): OrganizationColumns {
  return organization.kind === 'merchant'
    ? { merchant_id: Number(organization.id), municipality_code: null }
    : { merchant_id: null, municipality_code: organization.id };
}

export function organizationOf(row: OrganizationColumns): OrganizationRef {
  return row.merchant_id !== null
    ? { kind: 'merchant', id: String(row.merchant_id) }
    : { kind: 'municipality', id: String(row.municipality_code) };
}

/** For audit details and logs: `merchant:3`, `municipality:139998`. */
export function organizationLabel(organization: OrganizationRef): string {
  return `${organization.kind}:${organization.id}`;
}
