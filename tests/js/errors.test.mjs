// errors.test.mjs: www/js/errors.js reads an ERROR's code when the server
// sends one and otherwise the English texts of older servers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorKind } from '../../www/js/errors.js';

test('a code and a user are taken as they are', () => {
	for (const code of ['not_online', 'slow_recipient', 'no_binary_relay', 'no_transfer', 'unsafe_file_name'])
		assert.deepEqual(errorKind('whatever', code, 'bob'), { kind: code, user: 'bob' });
});

test('an unknown code, or one without a user, falls back to the text', () => {
	assert.deepEqual(errorKind('bob is not online', 'something_new', 'bob'), { kind: 'not_online', user: 'bob' });
	assert.deepEqual(errorKind('bob is not online', 'not_online', ''), { kind: 'not_online', user: 'bob' });
	assert.deepEqual(errorKind('no idea', 'something_new', 'bob'), { kind: null, user: null });
});

test('the texts of servers without codes', () => {
	const cases = [
		['carol is not online', 'not_online', 'carol'],
		['d.e-f is not keeping up: a message to them was not delivered, send it again later', 'slow_recipient', 'd.e-f'],
		['bob does not accept binary relay: send the file as FILE_CHUNK messages', 'no_binary_relay', 'bob'],
		['bob does not understand TRANSFER messages', 'no_transfer', 'bob'],
		['old.ext uses an older client that would run markup in this file name: rename the file without any of ' +
			'< > & " \' ` and send it again', 'unsafe_file_name', 'old.ext'],
		['unknown message type "PEER_INFO"', 'no_peer_info', null],
		['unknown message type "TRANSFER"', 'no_transfer_server', null],
	];
	for (const [text, kind, user] of cases)
		assert.deepEqual(errorKind(text, '', ''), { kind, user }, text);
});

test('texts that only look alike are about nothing', () => {
	for (const text of ['', 'bob is not online yet', 'Set a username before sending messages',
		'unknown message type "FILE_CHUNK"', 'the name bob is not keeping up'])
		assert.deepEqual(errorKind(text, '', ''), { kind: null, user: null }, text);
});
