// sha256.test.mjs: www/js/sha256.js against the FIPS 180 / NIST example
// vectors, fed whole and piece by piece, and against node's own SHA-256
// around the block and padding boundaries.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Sha256, hashFile } from '../../www/js/sha256.js';

const enc = new TextEncoder();
const VECTORS = [
	['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
	['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
	['abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq',
		'248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1'],
	['abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu',
		'cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1'],
];
const MILLION_A = 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0';

test('the FIPS 180 example messages', () => {
	for (const [msg, want] of VECTORS)
		assert.equal(new Sha256().update(enc.encode(msg)).hex(), want, JSON.stringify(msg));
});

test('the same messages one byte at a time', () => {
	for (const [msg, want] of VECTORS) {
		const h = new Sha256();
		for (const b of enc.encode(msg))
			h.update(new Uint8Array([b]));
		assert.equal(h.hex(), want, JSON.stringify(msg));
	}
});

test('one million "a" in pieces of odd sizes', () => {
	const a = new Uint8Array(1000000).fill(0x61);
	const sizes = [1, 3, 7, 55, 56, 57, 63, 64, 65, 127, 129, 1000, 4093, 65537];
	const h = new Sha256();
	let pos = 0;
	for (let i = 0; pos < a.length; i++) {
		const end = Math.min(a.length, pos + sizes[i % sizes.length]);
		h.update(a.subarray(pos, end));
		pos = end;
	}
	assert.equal(h.length, 1000000);
	assert.equal(h.hex(), MILLION_A);
});

test('every length around the padding boundaries, as node hashes them', () => {
	const data = new Uint8Array(300);
	for (let i = 0; i < data.length; i++)
		data[i] = (i * 131 + 7) & 0xff;
	for (let n = 0; n <= data.length; n++) {
		const want = createHash('sha256').update(data.subarray(0, n)).digest('hex');
		assert.equal(new Sha256().update(data.subarray(0, n)).hex(), want, n + ' bytes');
		const split = Math.floor(n / 3);
		const h = new Sha256().update(data.subarray(0, split)).update(data.subarray(split, n));
		assert.equal(h.hex(), want, n + ' bytes in two');
	}
});

test('ArrayBuffers and other views are the bytes they hold', () => {
	const bytes = enc.encode('abc');
	const want = VECTORS[1][1];
	assert.equal(new Sha256().update(bytes.buffer.slice(0)).hex(), want);
	const wide = new Uint8Array([0, 0x61, 0x62, 0x63, 0]);
	assert.equal(new Sha256().update(new DataView(wide.buffer, 1, 3)).hex(), want);
});

test('no update after the digest, no second digest', () => {
	const h = new Sha256().update(enc.encode('abc'));
	h.digest();
	assert.throws(() => h.update(new Uint8Array(1)), /update after digest/);
	assert.throws(() => h.digest(), /digest twice/);
});

test('hashFile: a Blob, with progress and cancellation', async () => {
	const blob = new Blob([VECTORS[2][0]]);
	let seen = 0;
	assert.equal(await hashFile(blob, (n) => {
		seen = n;
	}, () => false), VECTORS[2][1]);
	assert.equal(seen, blob.size);
	await assert.rejects(hashFile(blob, null, () => true), /cancelled/);
});
