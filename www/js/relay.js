// relay.js: the pieces of sending through the server's binary relay that
// need no page: the chunk frame (docs/protocol.md, "Extension:
// capabilities and the binary relay"), the per-person relay window and a
// file reader that reads ahead. Used by send.js and receive.js.
//
// Frame: kind 0x01, the name's length (1 to 32), the name (the recipient
// when sent, the sender when received), the 16-byte transfer id, the
// offset as 8 bytes big-endian, then the data.

import { KiB, MiB, hexToBytes, toHex } from './util.js';

export const BIN_KIND_CHUNK = 0x01;
export const RELAY_CHUNK = 256 * KiB;
const RELAY_WINDOW = 8 * MiB;        // unacked relay bytes per person, at most
const RELAY_WINDOW_MIN = 256 * KiB;  // ... and at least, after drops
const SHRINK_GAP_MS = 500;           // one halving per burst of signs

const enc = new TextEncoder();
const dec = new TextDecoder();

// The header of every chunk of transfer id (32 hex digits) to name, with
// room for the offset (set by chunkFrame).
export function chunkHeader(name, id) {
	const n = enc.encode(name);
	const head = new Uint8Array(2 + n.length + 16 + 8);
	head[0] = BIN_KIND_CHUNK;
	head[1] = n.length;
	head.set(n, 2);
	head.set(hexToBytes(id), 2 + n.length);
	return head;
}

// One message: head (from chunkHeader), offset pos, then data.
export function chunkFrame(head, pos, data) {
	const hlen = head.length;
	const msg = new Uint8Array(hlen + data.length);
	msg.set(head, 0);
	const dv = new DataView(msg.buffer);
	dv.setUint32(hlen - 8, Math.floor(pos / 0x100000000));
	dv.setUint32(hlen - 4, pos >>> 0);
	msg.set(data, hlen);
	return msg;
}

// A received message (ArrayBuffer) as {name, id (hex), offset, data}, or
// null when it is no chunk.
export function parseChunk(buf) {
	const b = new Uint8Array(buf);
	if (b.length < 2 || b[0] !== BIN_KIND_CHUNK)
		return null;
	const n = b[1];
	const hlen = 2 + n + 16 + 8;
	if (n < 1 || n > 32 || b.length < hlen)
		return null;
	const dv = new DataView(b.buffer, b.byteOffset + 18 + n, 8);
	return {
		name: dec.decode(b.subarray(2, 2 + n)),
		id: toHex(b.subarray(2 + n, 18 + n)),
		offset: dv.getUint32(0) * 0x100000000 + dv.getUint32(4),
		data: b.subarray(hlen),
	};
}

// The relay window to each person: how many bytes may be sent and not yet
// acknowledged. The server drops what would pass its queue for a slow
// receiver (max_outbound_bytes), so the window starts below that, halves
// on every sign of a drop and grows back with the acks.
// outboundBytes(): what the server holds for one receiver, 0 if unknown.
export class RelayWindows {
	constructor(outboundBytes) {
		this._outbound = outboundBytes;
		this._windows = new Map(); // user -> {bytes, shrunk}
	}

	// Half of what the server holds for one receiver (maxOutboundBytes,
	// which servers that know the transfer extension announce), and at
	// most RELAY_WINDOW.
	max() {
		const out = this._outbound();
		if (!out)
			return RELAY_WINDOW;
		return Math.max(RELAY_WINDOW_MIN, Math.min(RELAY_WINDOW, Math.floor(out / 2)));
	}

	// The window's size in bytes.
	bytes(user) {
		return this._get(user).bytes;
	}

	shrink(user, now = Date.now()) {
		const w = this._get(user);
		if (now - w.shrunk < SHRINK_GAP_MS)
			return;
		w.shrunk = now;
		w.bytes = Math.max(RELAY_WINDOW_MIN, Math.floor(w.bytes / 2));
	}

	// acked: bytes newly acknowledged by user.
	grow(user, acked) {
		const w = this._get(user);
		// About one chunk more per window of acknowledged bytes.
		w.bytes = Math.min(this.max(), w.bytes + Math.ceil(acked * RELAY_CHUNK / w.bytes));
	}

	_get(user) {
		let w = this._windows.get(user);
		if (!w)
			this._windows.set(user, w = { bytes: this.max(), shrunk: 0 });
		return w;
	}
}

// Reads a file in big slices, one slice ahead, and hands out pieces of
// them; reading 256 KiB at a time costs a round trip to the browser each.
export class SliceReader {
	constructor(file, size, slice) {
		this.file = file;
		this.size = size;
		this.slice = slice;
		this.cur = null;  // {start, bytes}
		this.next = null; // {start, promise}
	}

	_read(start) {
		const end = Math.min(this.size, start + this.slice);
		return { start, promise: this.file.slice(start, end).arrayBuffer() };
	}

	// Bytes [pos, end) of the file (end - pos <= slice).
	async get(pos, end) {
		const c = this.cur;
		if (!c || pos < c.start || end > c.start + c.bytes.length) {
			let n = this.next;
			if (!n || n.start !== pos)
				n = this._read(pos);
			this.next = null;
			const buf = await n.promise;
			this.cur = { start: n.start, bytes: new Uint8Array(buf) };
			if (this.cur.bytes.length < Math.min(this.slice, this.size - n.start))
				throw new Error('short read: the file changed?');
			const after = n.start + buf.byteLength;
			if (after < this.size)
				this.next = this._read(after);
		}
		const cur = this.cur;
		if (end > cur.start + cur.bytes.length)
			return this.get(pos, end);
		return cur.bytes.subarray(pos - cur.start, end - cur.start);
	}
}
