// view-transfers.js: the page's list of transfers (the <ol> in
// index.html's "Transfers" card), one row per transfer of engine.js's
// Engine, kept up to date from its 'added' and 'update' events. Names and
// file names go into the page only as text (textContent, attributes),
// never as HTML.
//
// A row is <li data-testid="transfer" data-transfer-id data-direction
// data-peer data-status> with the name, size, person, path badge
// (data-path), a <progress>, the status and stats texts and the buttons
// for the transfer's state (accept-button, accept-disk-button,
// decline-button, cancel-button, download-link, remove-button): the
// browser tests (tests/integration/test_browser.py) read these.
//
// statusText() and statsText() are pure: what a row says about a transfer.

import { FileSink } from './sinks.js';
import { isFinal } from './common.js';
import { formatBytes, formatDuration } from './util.js';

const LARGE_FILE = 256 * 1024 * 1024;

// A button showing text that calls onClick.
export function button(text, testid, cls, onClick) {
	const b = document.createElement('button');
	b.type = 'button';
	b.textContent = text;
	b.dataset.testid = testid;
	if (cls)
		b.className = cls;
	b.addEventListener('click', onClick);
	return b;
}

function span(cls, testid) {
	const s = document.createElement('span');
	s.className = cls;
	if (testid)
		s.dataset.testid = testid;
	return s;
}

// What a transfer's row says about its state.
export function statusText(t) {
	const send = t.direction === 'send';
	switch (t.status) {
	case 'preparing':
		return 'asking what ' + t.peer + "'s client understands";
	case 'hashing':
		return 'computing the checksum';
	case 'waiting':
		return 'waiting for ' + t.peer + ' to accept';
	case 'queued':
		return 'queued (one file at a time to ' + t.peer + ')';
	case 'offered':
		if (t.size >= LARGE_FILE && FileSink.supported())
			return t.peer + ' wants to send you this file (a large one: Save to disk keeps it out of memory)';
		return t.peer + ' wants to send you this file';
	case 'connecting':
		return 'connecting';
	case 'transferring':
		return send ? 'sending' : 'receiving';
	case 'done':
		if (send)
			return 'done: delivered and verified';
		if (t.savedAs)
			return 'done: verified, saved as ' + t.savedAs;
		return t.sha256ok ? 'done: verified' : 'done (not verified: sent by an older client)';
	case 'sent':
		return 'sent (an older client does not confirm receipt)';
	case 'declined':
		return send ? 'declined by ' + t.peer : 'declined';
	case 'failed':
		return 'failed: ' + (t.reason || 'unknown error');
	case 'cancelled':
		return 'cancelled' + (t.reason ? ' (' + t.reason + ')' : '');
	}
	return t.status;
}

// Progress, speed and time left, or the size and time taken at the end.
export function statsText(t, now = Date.now()) {
	if (t.status === 'hashing') {
		const pct = t.size ? Math.floor(100 * t.hashed / t.size) : 100;
		return pct + '%';
	}
	if (isFinal(t)) {
		if (t.status === 'done' || t.status === 'sent') {
			const secs = ((t.finished || now) - (t.dataStart || t.created)) / 1000;
			return formatBytes(t.size) + (secs > 0.05 ? ' in ' + formatDuration(secs * 1000) : '');
		}
		return '';
	}
	if (t.status !== 'transferring' && t.status !== 'connecting')
		return '';
	const pct = t.size ? Math.floor(100 * t.bytes / t.size) : 100;
	let s = pct + '%';
	if (t.speed > 0) {
		s += ' \u00b7 ' + formatBytes(t.speed) + '/s';
		const left = (t.size - t.bytes) / t.speed;
		if (Number.isFinite(left))
			s += ' \u00b7 ' + formatDuration(left * 1000) + ' left';
	}
	return s;
}

// Which buttons a row shows.
function actionsFor(t) {
	if (t.status === 'offered')
		return 'offer';
	if (!isFinal(t))
		return 'live';
	if (t.status === 'done' && t.url)
		return 'download';
	return 'final';
}

export class TransferList {
	// engine: the Engine; el: {list, empty, clear} (the <ol>, the "No
	// transfers yet" text, the "Clear finished" button); announce(text):
	// tells a screen reader.
	constructor(engine, el, announce) {
		this.engine = engine;
		this.el = el;
		this.announce = announce;
		this.items = new Map();      // transfer key -> row parts
		this.lastStatus = new Map(); // transfer key -> status last shown
		engine.addEventListener('added', (ev) => this._onAdded(ev.detail));
		engine.addEventListener('update', (ev) => this._onUpdate(ev.detail));
		el.clear.addEventListener('click', () => this.clearFinished());
	}

	_onAdded(t) {
		this._render(t);
		this.lastStatus.set(t.key, t.status);
		if (t.status === 'offered')
			this.announce(t.peer + ' wants to send you ' + t.name + ', ' + formatBytes(t.size));
	}

	_onUpdate(t) {
		this._render(t);
		if (this.lastStatus.get(t.key) !== t.status) {
			this.lastStatus.set(t.key, t.status);
			if (isFinal(t))
				this.announce(t.name + ': ' + statusText(t));
		}
	}

	clearFinished() {
		for (const key of [...this.items.keys()]) {
			const t = this.engine.transfers.get(key);
			if (t && isFinal(t))
				this.remove(key);
		}
	}

	// Drops a finished transfer's row (and the engine's transfer); the
	// focus moves to the row next to it.
	remove(key) {
		const it = this.items.get(key);
		this.engine.remove(key);
		if (it) {
			const next = it.li.nextElementSibling || it.li.previousElementSibling;
			it.li.remove();
			this.items.delete(key);
			const b = next && next.querySelector('button, a');
			if (b)
				b.focus();
		}
		this.el.empty.hidden = this.items.size > 0;
	}

	_make(t) {
		const li = document.createElement('li');
		li.className = 'transfer';
		li.dataset.testid = 'transfer';
		li.dataset.transferId = t.id;
		li.dataset.direction = t.direction;
		li.dataset.peer = t.peer;
		const head = document.createElement('div');
		head.className = 't-head';
		const dir = span('t-dir', 'transfer-direction');
		dir.textContent = t.direction === 'send' ? 'to ' + t.peer : 'from ' + t.peer;
		const name = span('t-name', 'transfer-name');
		name.textContent = t.name;
		const size = span('t-size', 'transfer-size');
		size.textContent = formatBytes(t.size);
		const path = span('badge', 'transfer-path');
		path.hidden = true;
		head.append(name, size, dir, path);
		const progress = document.createElement('progress');
		progress.dataset.testid = 'progress';
		progress.max = 1;
		progress.value = 0;
		progress.setAttribute('aria-label', 'Progress of ' + t.name);
		const info = document.createElement('div');
		info.className = 't-info';
		const status = span('t-status', 'status');
		const stats = span('t-stats', 'stats');
		info.append(status, stats);
		const actions = document.createElement('div');
		actions.className = 't-actions';
		li.append(head, progress, info, actions);
		const it = { li, path, progress, status, stats, actions, shownActions: '' };
		this.items.set(t.key, it);
		this.el.list.prepend(li);
		this.el.empty.hidden = true;
		return it;
	}

	_render(t) {
		const it = this.items.get(t.key) || this._make(t);
		it.li.dataset.status = t.status;
		it.status.textContent = statusText(t);
		it.stats.textContent = statsText(t);
		it.progress.max = t.size || 1;
		if (t.status === 'hashing')
			it.progress.value = t.hashed || 0;
		else
			it.progress.value = t.size ? Math.min(t.bytes, t.size) : (t.status === 'done' || t.status === 'sent' ? 1 : 0);
		if (t.path) {
			it.path.hidden = false;
			it.path.dataset.path = t.path;
			it.path.textContent = t.path === 'p2p' ? 'direct' : 'via server';
			it.path.title = t.pathNote || '';
		} else {
			it.path.hidden = true;
		}
		const want = actionsFor(t);
		if (want !== it.shownActions) {
			it.shownActions = want;
			this._renderActions(t, it.actions, want);
		}
	}

	_renderActions(t, a, want) {
		const engine = this.engine;
		const hadFocus = a.contains(document.activeElement);
		a.replaceChildren();
		if (want === 'offer') {
			a.append(button('Accept', 'accept-button', '', () => engine.accept(t.key, false)));
			if (FileSink.supported())
				a.append(button('Save to disk...', 'accept-disk-button', 'secondary', () => engine.accept(t.key, true)));
			a.append(button('Decline', 'decline-button', 'danger', () => engine.decline(t.key)));
		} else if (want === 'live') {
			a.append(button('Cancel', 'cancel-button', 'danger', () => engine.cancel(t.key)));
		} else if (want === 'download') {
			const link = document.createElement('a');
			link.className = 'button';
			link.dataset.testid = 'download-link';
			link.href = t.url;
			link.download = t.name;
			link.textContent = 'Save ' + t.name;
			a.append(link);
		}
		if (isFinal(t))
			a.append(button('Remove', 'remove-button', 'secondary small', () => this.remove(t.key)));
		if (hadFocus && a.firstChild)
			a.firstChild.focus();
	}
}
