// A device as the console lists it: the shape the API returns (backend/src/devices) and the
// console reads.

export type DeviceStatus = 'active' | 'revoked';

export interface Device {
  id: number;
  name: string;
  status: DeviceStatus;
  enrolledAt: string;
  lastSeenAt: string | null;
  revokedAt: string | null;
}
