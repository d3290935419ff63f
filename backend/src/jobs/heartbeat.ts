import os from 'node:os';

// The smallest real job: proves that Redis delivers, the worker runs and MySQL records
// (heartbeatRepository.recordBeat).
export const HEARTBEAT_QUEUE = 'heartbeat';

export const workerId = `${os.hostname()}:${process.pid}`;
