// relay.test.mjs: www/js/relay.js: the binary relay's chunk frame as
// docs/protocol.md lays it out, the relay window, the read-ahead reader.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunkHeader, chunkFrame, parseChunk, RelayWindows, SliceReader, RELAY_CHUNK } from '../../www/js/relay.js';

const ID = '00112233445566778899aabbccddeeff';

test('a frame: kind 1, name length, name, 16-byte id, offset, data', () => {
	const head = chunkHeader('bob', ID);
	const msg = chunkFrame(head, 0x123456789a, new Uint8Array([7, 8, 9]));
	assert.deepEqual([...msg.subarray(0, 5)], [1, 3, 0x62, 0x6f, 0x62]);
	assert.equal(Buffer.from(msg.subarray(5, 21)).toString('hex'), ID);
	assert.deepEqual([...msg.subarray(21, 29)], [0, 0, 0, 0x12, 0x34, 0x56, 0x78, 0x9a]);
	assert.deepEqual([...msg.subarray(29)], [7, 8, 9]);
});

test('parseChunk reads what chunkFrame writes', () => {
	const name = 'x'.repeat(32);
	for (const off of [0, 1, 0xffffffff, 0x100000000, Number.MAX_SAFE_INTEGER]) {
		const msg = chunkFrame(chunkHeader(name, ID), off, new Uint8Array([off & 0xff]));
		const c = parseChunk(msg.buffer);
		assert.equal(c.name, name);
		assert.equal(c.id, ID);
		assert.equal(c.offset, off);
		assert.deepEqual([...c.data], [off & 0xff]);
	}
	const empty = parseChunk(chunkFrame(chunkHeader('bob', ID), 5, new Uint8Array(0)).buffer);
	assert.equal(empty.data.length, 0);
});

test('parseChunk refuses what is no chunk', () => {
	const good = chunkFrame(chunkHeader('bob', ID), 0, new Uint8Array(1));
	const bad = (f) => {
		const b = good.slice();
		f(b);
		return b.buffer;
	};
	assert.equal(parseChunk(new ArrayBuffer(0)), null);
	assert.equal(parseChunk(new Uint8Array([1]).buffer), null);
	assert.equal(parseChunk(bad((b) => { b[0] = 2; })), null);
	assert.equal(parseChunk(bad((b) => { b[1] = 0; })), null);
	assert.equal(parseChunk(bad((b) => { b[1] = 33; })), null);
	assert.equal(parseChunk(good.slice(0, 28).buffer), null, 'shorter than its header');
});

test('the window: half the server\'s queue, 256 KiB to 8 MiB', () => {
	let out = 0;
	const w = new RelayWindows(() => out);
	assert.equal(w.max(), 8 * 1024 * 1024, 'unknown: the most');
	out = 4 * 1024 * 1024;
	assert.equal(w.max(), 2 * 1024 * 1024);
	out = 64 * 1024;
	assert.equal(w.max(), 256 * 1024);
	out = 1024 * 1024 * 1024;
	assert.equal(w.max(), 8 * 1024 * 1024);
});

test('the window halves once per burst, not below the least, and grows back', () => {
	const w = new RelayWindows(() => 4 * 1024 * 1024);
	const full = 2 * 1024 * 1024;
	assert.equal(w.bytes('bob'), full);
	w.shrink('bob', 10000);
	assert.equal(w.bytes('bob'), full / 2);
	w.shrink('bob', 10400);
	assert.equal(w.bytes('bob'), full / 2, 'a second sign within 500 ms');
	w.shrink('bob', 10600);
	assert.equal(w.bytes('bob'), full / 4);
	assert.equal(w.bytes('carol'), full, 'one window per person');
	for (let t = 20000; t < 40000; t += 1000)
		w.shrink('bob', t);
	assert.equal(w.bytes('bob'), 256 * 1024);
	w.grow('bob', 256 * 1024);
	assert.equal(w.bytes('bob'), 256 * 1024 + RELAY_CHUNK, 'a chunk per window acked');
	for (let i = 0; i < 100; i++)
		w.grow('bob', full);
	assert.equal(w.bytes('bob'), full, 'never past the most');
});

test('SliceReader hands out any range, reading ahead', async () => {
	const data = new Uint8Array(10000);
	for (let i = 0; i < data.length; i++)
		data[i] = i % 251;
	let reads = 0;
	const blob = new Blob([data]);
	const file = { slice: (a, b) => { reads++; return blob.slice(a, b); } };
	const r = new SliceReader(file, data.length, 4096);
	for (const [a, b] of [[0, 100], [100, 4096], [4096, 5000], [5000, 8192], [8192, 10000], [3000, 3100]])
		assert.deepEqual(await r.get(a, b), data.subarray(a, b), a + '-' + b);
	assert.ok(reads >= 3 && reads <= 5, reads + ' reads');
});

test('SliceReader: a file that shrank is an error', async () => {
	const blob = new Blob([new Uint8Array(100)]);
	const r = new SliceReader(blob, 200, 4096);
	await assert.rejects(r.get(0, 150), /short read/);
});
