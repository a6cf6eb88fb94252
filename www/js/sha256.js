// sha256.js: SHA-256 (FIPS 180-4) that can be fed piece by piece, for
// files too big to hash in one crypto.subtle.digest call and for the
// receiver, which checks the bytes as they arrive. Also hashFile(), which
// uses crypto.subtle for files up to 100 MiB when it is available.

import { toHex, MiB } from './util.js';

const K = new Int32Array([
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const H0 = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

export class Sha256 {
	constructor() {
		this._h = new Int32Array(H0);
		this._w = new Int32Array(64);
		this._buf = new Uint8Array(64); // a partial block
		this._bufLen = 0;
		this._total = 0; // bytes fed so far
		this._finished = false;
	}

	get length() {
		return this._total;
	}

	// Feeds bytes (a Uint8Array, an ArrayBuffer or a view); returns this.
	update(data) {
		if (this._finished)
			throw new Error('sha256: update after digest');
		const bytes = data instanceof Uint8Array ? data
			: ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
				: new Uint8Array(data);
		const len = bytes.length;
		let pos = 0;
		this._total += len;
		if (this._bufLen > 0) {
			const take = Math.min(64 - this._bufLen, len);
			this._buf.set(bytes.subarray(0, take), this._bufLen);
			this._bufLen += take;
			pos = take;
			if (this._bufLen < 64)
				return this;
			this._blocks(this._buf, 0, 64);
			this._bufLen = 0;
		}
		const rest = len - pos;
		const whole = rest - (rest % 64);
		if (whole > 0) {
			this._blocks(bytes, pos, whole);
			pos += whole;
		}
		if (pos < len) {
			this._buf.set(bytes.subarray(pos), 0);
			this._bufLen = len - pos;
		}
		return this;
	}

	// The digest as 32 bytes. The object cannot be fed after this.
	digest() {
		if (this._finished)
			throw new Error('sha256: digest twice');
		const total = this._total;
		const padLen = (this._bufLen < 56 ? 56 : 120) - this._bufLen;
		const pad = new Uint8Array(padLen + 8);
		pad[0] = 0x80;
		// The length in bits, 64-bit big-endian, without leaving the
		// range where doubles are exact.
		const hi = Math.floor(total / 0x20000000);
		const lo = (total % 0x20000000) * 8;
		const dv = new DataView(pad.buffer);
		dv.setUint32(padLen, hi >>> 0);
		dv.setUint32(padLen + 4, lo >>> 0);
		this.update(pad);
		this._finished = true;
		const out = new Uint8Array(32);
		const odv = new DataView(out.buffer);
		for (let i = 0; i < 8; i++)
			odv.setInt32(i * 4, this._h[i]);
		return out;
	}

	hex() {
		return toHex(this.digest());
	}

	_blocks(d, off, n) {
		const w = this._w;
		const h = this._h;
		let h0 = h[0], h1 = h[1], h2 = h[2], h3 = h[3], h4 = h[4], h5 = h[5], h6 = h[6], h7 = h[7];
		for (let p = off, end = off + n; p < end; p += 64) {
			for (let i = 0, j = p; i < 16; i++, j += 4)
				w[i] = (d[j] << 24) | (d[j + 1] << 16) | (d[j + 2] << 8) | d[j + 3];
			for (let i = 16; i < 64; i++) {
				const x = w[i - 15], y = w[i - 2];
				const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
				const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
				w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
			}
			let a = h0, b = h1, c = h2, e = h4, f = h5, g = h6, hh = h7, dd = h3;
			for (let i = 0; i < 64; i++) {
				const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
				const ch = g ^ (e & (f ^ g));
				const t1 = (hh + S1 + ch + K[i] + w[i]) | 0;
				const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
				const maj = (a & b) | (c & (a | b));
				const t2 = (S0 + maj) | 0;
				hh = g;
				g = f;
				f = e;
				e = (dd + t1) | 0;
				dd = c;
				c = b;
				b = a;
				a = (t1 + t2) | 0;
			}
			h0 = (h0 + a) | 0;
			h1 = (h1 + b) | 0;
			h2 = (h2 + c) | 0;
			h3 = (h3 + dd) | 0;
			h4 = (h4 + e) | 0;
			h5 = (h5 + f) | 0;
			h6 = (h6 + g) | 0;
			h7 = (h7 + hh) | 0;
		}
		h[0] = h0; h[1] = h1; h[2] = h2; h[3] = h3;
		h[4] = h4; h[5] = h5; h[6] = h6; h[7] = h7;
	}
}

// Files up to this size are hashed by crypto.subtle in one call (it has no
// streaming interface, so the whole file is read into memory).
export const SUBTLE_MAX = 100 * MiB;
const SLICE = 4 * MiB;

// The SHA-256 of a Blob or File as 64 hex digits. onProgress(bytesDone)
// is called along the way; isCancelled() is polled between slices and
// makes it throw an Error('cancelled'). Memory stays at one slice for
// files hashed incrementally. opts.stream: read big files with
// blob.stream() rather than slices.
export async function hashFile(blob, onProgress, isCancelled, opts) {
	const subtle = globalThis.crypto && globalThis.crypto.subtle;
	if (subtle && blob.size <= SUBTLE_MAX) {
		const buf = await blob.arrayBuffer();
		if (isCancelled && isCancelled())
			throw new Error('cancelled');
		const d = await subtle.digest('SHA-256', buf);
		if (onProgress)
			onProgress(blob.size);
		return toHex(new Uint8Array(d));
	}
	const h = new Sha256();
	let pos = 0;
	if (opts && opts.stream && typeof blob.stream === 'function') {
		// A Blob the browser moved to disk reads back more reliably as a
		// stream than as big slices (Chrome may refuse those for lack of
		// memory quota).
		const reader = blob.stream().getReader();
		for (;;) {
			const { done, value } = await reader.read();
			if (done)
				break;
			if (isCancelled && isCancelled()) {
				reader.cancel();
				throw new Error('cancelled');
			}
			h.update(value);
			pos += value.length;
			if (onProgress)
				onProgress(pos);
		}
		return h.hex();
	}
	let next = blob.slice(0, SLICE).arrayBuffer();
	while (pos < blob.size) {
		const buf = await next;
		if (isCancelled && isCancelled())
			throw new Error('cancelled');
		const end = pos + buf.byteLength;
		// Read the next slice while this one is hashed.
		next = end < blob.size ? blob.slice(end, end + SLICE).arrayBuffer() : null;
		h.update(new Uint8Array(buf));
		pos = end;
		if (onProgress)
			onProgress(pos);
		if (buf.byteLength === 0)
			throw new Error('the file could not be read');
	}
	return h.hex();
}
