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

/** A one-time code to enrol a reader agent as a device, as staff receive it. */
export interface EnrollmentCode {
  code: string;
  expiresAt: string;
  /** The device's name, given when the code was asked for. */
  name: string;
}
