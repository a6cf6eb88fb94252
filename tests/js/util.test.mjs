// util.test.mjs: the pure helpers of www/js/util.js: sizes, durations,
// file names, hex, the page's URL parameters and the Signal.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
	formatBytes, formatDuration, safeFileName, toHex, hexToBytes, pageParams, Signal, KiB, MiB,
} from '../../www/js/util.js';

test('formatBytes: bytes, then binary units with three digits', () => {
	assert.equal(formatBytes(0), '0 B');
	assert.equal(formatBytes(1023), '1023 B');
	assert.equal(formatBytes(1024), '1.00 KiB');
	assert.equal(formatBytes(1536), '1.50 KiB');
	assert.equal(formatBytes(10 * KiB), '10.0 KiB');
	assert.equal(formatBytes(100 * KiB), '100 KiB');
	assert.equal(formatBytes(1023.9 * KiB), '1024 KiB');
	assert.equal(formatBytes(MiB), '1.00 MiB');
	assert.equal(formatBytes(2.5 * 1024 * MiB), '2.50 GiB');
	assert.equal(formatBytes(3 * 1024 * 1024 * MiB), '3.00 TiB');
	assert.equal(formatBytes(5000 * 1024 * 1024 * MiB), '5000 TiB');
	for (const bad of [-1, NaN, Infinity, undefined])
		assert.equal(formatBytes(bad), '?');
});

test('formatDuration: seconds rounded up, then minutes, then hours', () => {
	assert.equal(formatDuration(0), '0 s');
	assert.equal(formatDuration(1), '1 s');
	assert.equal(formatDuration(59000), '59 s');
	assert.equal(formatDuration(59001), '1 min 0 s');
	assert.equal(formatDuration(61000), '1 min 1 s');
	assert.equal(formatDuration(3600000), '1 h 0 min');
	assert.equal(formatDuration(3723000), '1 h 2 min');
	assert.equal(formatDuration(-1), '');
	assert.equal(formatDuration(NaN), '');
});

test('safeFileName: no separators, no control characters, never empty', () => {
	assert.equal(safeFileName('report.pdf'), 'report.pdf');
	assert.equal(safeFileName('../../etc/passwd'), '.._.._etc_passwd');
	assert.equal(safeFileName('a\\b'), 'a_b');
	assert.equal(safeFileName('a\u0000b\u001fc\u007f'), 'a_b_c_');
	assert.equal(safeFileName('  x  '), 'x');
	for (const empty of ['', '.', '..', '   ', null, undefined])
		assert.equal(safeFileName(empty), 'download');
	assert.equal(safeFileName('y'.repeat(300)).length, 200);
	assert.equal(safeFileName('\u00e9t\u00e9.txt'), '\u00e9t\u00e9.txt');
});

test('toHex and hexToBytes undo each other', () => {
	const b = new Uint8Array([0, 1, 15, 16, 127, 128, 255]);
	assert.equal(toHex(b), '00010f107f80ff');
	assert.deepEqual(hexToBytes('00010f107f80ff'), b);
	assert.deepEqual(hexToBytes('00010F107F80FF'), b);
	assert.equal(toHex(new Uint8Array(0)), '');
});

test('pageParams: ?ws=, ?p2p=off and ?p2pTimeout=', () => {
	assert.deepEqual(pageParams(''), { ws: '', p2pOff: false, p2pTimeoutMs: null });
	assert.deepEqual(pageParams('?ws=9000&p2p=off&p2pTimeout=2500'), { ws: '9000', p2pOff: true, p2pTimeoutMs: 2500 });
	for (const off of ['OFF', '0', 'false'])
		assert.equal(pageParams('?p2p=' + off).p2pOff, true, off);
	assert.equal(pageParams('?p2p=on').p2pOff, false);
	assert.equal(pageParams('?p2pTimeout=-5').p2pTimeoutMs, null);
	assert.equal(pageParams('?p2pTimeout=x').p2pTimeoutMs, null);
	assert.equal(pageParams('?p2pTimeout=99999999').p2pTimeoutMs, 600000);
});

test('Signal: wait() ends on fire() or at its time-out', async () => {
	const s = new Signal();
	let woken = false;
	const w = s.wait().then(() => {
		woken = true;
	});
	await new Promise((r) => setTimeout(r, 5));
	assert.equal(woken, false);
	s.fire();
	await w;
	assert.equal(woken, true);
	const t0 = Date.now();
	await s.wait(20);
	assert.ok(Date.now() - t0 >= 15);
	assert.equal(s._waiters.length, 0, 'a timed-out waiter is forgotten');
});
