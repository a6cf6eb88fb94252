// names.test.mjs: the page's name check (www/js/util.js checkName) gives
// the server's verdict on every case of tests/data/usernames.tsv, the
// table the C tests read too, and words its refusals as the server does.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { checkName, plausibleName, NAME_ERRORS } from '../../www/js/util.js';

const top = new URL('../../', import.meta.url);
const VERDICTS = ['ok', 'short', 'long', 'chars'];

function readTable() {
	const text = readFileSync(new URL('tests/data/usernames.tsv', top), 'utf8');
	const cases = [];
	text.split('\n').forEach((line, i) => {
		if (line === '' || line.startsWith('#'))
			return;
		const where = 'usernames.tsv:' + (i + 1);
		const f = line.split('\t');
		assert.equal(f.length, 2, where + ': a JSON string, one TAB, a verdict');
		assert.ok(f[0].startsWith('"') && f[0].endsWith('"'), where + ': not a JSON string literal');
		assert.ok(VERDICTS.includes(f[1]), where + ': unknown verdict ' + f[1]);
		cases.push({ where, literal: f[0], name: JSON.parse(f[0]), verdict: f[1] });
	});
	return cases;
}

const cases = readTable();

test('the table covers every verdict and the edges', () => {
	assert.ok(cases.length >= 40 && cases.length <= 80, cases.length + ' cases');
	for (const v of VERDICTS)
		assert.ok(cases.some((c) => c.verdict === v), 'no case says ' + v);
	const has = (name) => cases.some((c) => c.name === name);
	for (const n of ['', 'ab', 'abc', 'a'.repeat(32), 'a'.repeat(33), '\u0000', ' abc', 'abc\t', 'a b'])
		assert.ok(has(n), 'missing ' + JSON.stringify(n));
	assert.equal(new Set(cases.map((c) => c.name)).size, cases.length, 'a name twice');
});

test('names past 128 bytes are written as a client sends them', () => {
	// The server trims those in the JSON text it got (usernames.tsv's header).
	for (const c of cases)
		if (new TextEncoder().encode(c.name).length > 128)
			assert.equal(c.literal, JSON.stringify(c.name), c.where);
});

test('checkName gives the server verdict on every case', () => {
	const wrong = [];
	for (const c of cases) {
		const { error } = checkName(c.name);
		const got = error === null ? 'ok' : Object.keys(NAME_ERRORS).find((k) => NAME_ERRORS[k] === error) || error;
		if (got !== c.verdict)
			wrong.push(c.where + ' ' + c.literal.slice(0, 40) + ': ' + got + ', not ' + c.verdict);
	}
	assert.deepEqual(wrong, []);
});

test('an accepted name comes back trimmed and plausible', () => {
	for (const c of cases.filter((x) => x.verdict === 'ok')) {
		const { name } = checkName(c.name);
		assert.match(name, /^[A-Za-z0-9_.-]{3,32}$/, c.where);
		assert.ok(c.name.includes(name), c.where);
		assert.ok(plausibleName(name), c.where);
	}
	assert.equal(checkName(' \tbob \n').name, 'bob');
	assert.equal(checkName(null).error, NAME_ERRORS.short);
});

test('the refusals are the server\'s texts', () => {
	const dir = new URL('src/', top);
	const c = readdirSync(dir).filter((f) => f.endsWith('.c')).map((f) => readFileSync(new URL(f, dir), 'utf8'));
	for (const [k, text] of Object.entries(NAME_ERRORS))
		assert.ok(c.some((s) => s.includes('"' + text + '"')), k + ': "' + text + '" is in no src/*.c');
});

test('plausibleName takes what another client may hold', () => {
	assert.ok(plausibleName('a'));
	assert.ok(plausibleName('x'.repeat(32)));
	assert.ok(!plausibleName(''));
	assert.ok(!plausibleName('x'.repeat(33)));
	assert.ok(!plausibleName('a b'));
	assert.ok(!plausibleName(42));
});
