// common.js: what the transfer modules (engine.js, send.js, receive.js,
// v1.js) share about a transfer: its final states, the phase in which
// bytes move, and the buffer bounds both protocols respect. Pure: no page,
// no connection.
//
// A transfer is a plain object (engine.js _add lists its common fields);
// status is one of preparing, hashing, waiting, queued, offered,
// connecting, transferring (the data phase), or a final one: done, sent,
// declined, failed, cancelled.

import { MiB } from './util.js';

export const P2P_LOW = 1 * MiB;      // bufferedAmountLowThreshold
export const P2P_HIGH = 4 * MiB;     // never more than this buffered on a data channel
export const WS_HIGH = 4 * MiB;      // ws.bufferedAmount bound

const SPEED_WINDOW_MS = 4000;        // speed over about this long
const SPEED_MIN_MS = 500;            // ... and not over less

const FINAL = new Set(['done', 'sent', 'declined', 'failed', 'cancelled']);

export function isFinal(t) {
	return FINAL.has(t.status);
}

// Connecting or transferring: the bytes are (about to be) moving.
export function inDataPhase(t) {
	return t.status === 'connecting' || t.status === 'transferring';
}

// A byte count or offset from another client: an integer doubles hold exactly.
export function validSize(n) {
	return Number.isSafeInteger(n) && n >= 0;
}

// The largest message the server takes (its announced maxMessageBytes,
// else 2 MiB).
export function maxMessageBytes(conn) {
	return (conn.server && conn.server.maxMessageBytes) || 2 * MiB;
}

// t's speed in bytes a second over the last few seconds (t.samples keeps
// them; a change of status starts over), 0 before there is enough.
export function speedOf(t, now) {
	const bytes = t.status === 'hashing' ? t.hashed : t.bytes;
	const s = t.samples;
	if (s.length && s[s.length - 1][2] !== t.status)
		s.length = 0;
	s.push([now, bytes, t.status]);
	while (s.length > 2 && now - s[0][0] > SPEED_WINDOW_MS)
		s.shift();
	if (s.length >= 2 && now - s[0][0] >= SPEED_MIN_MS)
		return Math.max(0, (bytes - s[0][1]) / ((now - s[0][0]) / 1000));
	return 0;
}
