// A device as the console lists it: the shape the API returns and the console reads, with no
// imports, so the console can import it too.

export type DeviceStatus = 'active' | 'revoked';

export interface Device {
  id: number;
  name: string;
  status: DeviceStatus;
  enrolledAt: string;
  lastSeenAt: string | null;
  revokedAt: string | null;
}
