// view.test.mjs: what a transfer's row says (www/js/view-transfers.js
// statusText, statsText) and the speed the engine's clock measures
// (www/js/common.js speedOf).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statusText, statsText } from '../../www/js/view-transfers.js';
import { speedOf, isFinal, inDataPhase, validSize } from '../../www/js/common.js';

const MiB = 1024 * 1024;
const tr = (o) => Object.assign({ direction: 'send', peer: 'bob', size: 10 * MiB, bytes: 0, speed: 0, reason: '' }, o);

test('statusText for each state', () => {
	assert.equal(statusText(tr({ status: 'waiting' })), 'waiting for bob to accept');
	assert.equal(statusText(tr({ status: 'transferring' })), 'sending');
	assert.equal(statusText(tr({ status: 'transferring', direction: 'receive' })), 'receiving');
	assert.equal(statusText(tr({ status: 'offered', direction: 'receive', size: 1 << 30 })), 'bob wants to send you this file');
	assert.equal(statusText(tr({ status: 'done' })), 'done: delivered and verified');
	assert.equal(statusText(tr({ status: 'done', direction: 'receive', sha256ok: true })), 'done: verified');
	assert.equal(statusText(tr({ status: 'done', direction: 'receive', sha256ok: null })),
		'done (not verified: sent by an older client)');
	assert.equal(statusText(tr({ status: 'done', direction: 'receive', savedAs: 'x.bin' })), 'done: verified, saved as x.bin');
	assert.equal(statusText(tr({ status: 'declined' })), 'declined by bob');
	assert.equal(statusText(tr({ status: 'failed', reason: 'bob went offline' })), 'failed: bob went offline');
	assert.equal(statusText(tr({ status: 'failed' })), 'failed: unknown error');
	assert.equal(statusText(tr({ status: 'cancelled', reason: 'you cancelled' })), 'cancelled (you cancelled)');
	assert.equal(statusText(tr({ status: 'something' })), 'something');
});

test('statsText: progress, speed, time left; size and time at the end', () => {
	assert.equal(statsText(tr({ status: 'hashing', hashed: 5 * MiB })), '50%');
	assert.equal(statsText(tr({ status: 'transferring', bytes: 2.5 * MiB })), '25%');
	assert.equal(statsText(tr({ status: 'transferring', bytes: 5 * MiB, speed: MiB })),
		'50% \u00b7 1.00 MiB/s \u00b7 5 s left');
	assert.equal(statsText(tr({ status: 'transferring', size: 0 })), '100%');
	assert.equal(statsText(tr({ status: 'waiting' })), '');
	assert.equal(statsText(tr({ status: 'done', dataStart: 1000, finished: 5000 })), '10.0 MiB in 4 s');
	assert.equal(statsText(tr({ status: 'done', dataStart: 1000, finished: 1010 })), '10.0 MiB');
	assert.equal(statsText(tr({ status: 'failed' })), '');
});

test('speedOf: over the last seconds, from 500 ms on, anew after a status change', () => {
	const t = tr({ status: 'transferring', samples: [] });
	assert.equal(speedOf(t, 0), 0);
	t.bytes = MiB;
	assert.equal(speedOf(t, 300), 0, 'under 500 ms');
	t.bytes = 2 * MiB;
	assert.equal(speedOf(t, 1000), 2 * MiB);
	for (let now = 1300; now < 9100; now += 300) {
		t.bytes += 300 * 1024;
		speedOf(t, now);
	}
	t.bytes += 300 * 1024;
	assert.ok(Math.abs(speedOf(t, 9100) - 1000 * 1024) < 1, 'the old fast start is forgotten');
	t.status = 'done';
	assert.equal(speedOf(t, 9400), 0);
	assert.equal(t.samples.length, 1);
});

test('the final states and the data phase', () => {
	for (const s of ['done', 'sent', 'declined', 'failed', 'cancelled'])
		assert.ok(isFinal({ status: s }) && !inDataPhase({ status: s }), s);
	for (const s of ['connecting', 'transferring'])
		assert.ok(!isFinal({ status: s }) && inDataPhase({ status: s }), s);
	for (const s of ['preparing', 'hashing', 'waiting', 'queued', 'offered'])
		assert.ok(!isFinal({ status: s }) && !inDataPhase({ status: s }), s);
	assert.ok(validSize(0) && validSize(2 ** 53 - 1));
	assert.ok(!validSize(-1) && !validSize(1.5) && !validSize(2 ** 53) && !validSize('1'));
});
