// engine.js: the transfers' bookkeeping and clock, and where the server's
// messages about them arrive. The protocols' work is in send.js (to
// clients that speak TRANSFER), receive.js (the bytes of both protocols,
// the receiver's side of TRANSFER) and v1.js (to and from old clients);
// errors.js reads the server's ERRORs.
//
// The page (app.js) calls sendFiles(), accept(), decline(), cancel(),
// remove(), and hands over every server message (onMessage, onBinary) and
// the list of people online (onUsers). Every transfer is a plain object
// kept in Engine.transfers (by key "s:" or "r:" + person + ":" + id; order
// lists the keys, oldest first); the engine emits 'added' and 'update'
// (detail: the transfer) and 'notice' (detail: text) for the page.

import { hashFile } from './sha256.js';
import { Signal, plausibleName } from './util.js';
import { isFinal, inDataPhase, speedOf } from './common.js';
import { errorKind } from './errors.js';
import { Sender } from './send.js';
import { Receiver } from './receive.js';
import { V1 } from './v1.js';

export { isFinal };

const NO_PROGRESS_MS = 60000;        // then the transfer fails
const PEER_GONE_MS = 30000;          // a person off the list this long: fail
const SELF_OFFLINE_MS = 60000;       // our own connection down this long: fail
const PEER_INFO_TIMEOUT_MS = 5000;
const TICK_MS = 300;

export class Engine extends EventTarget {
	// conn: Connection; peers: PeerManager; opts.p2pEnabled(): bool;
	// opts.p2pTimeoutMs(): number; opts.users(): Set of online names.
	constructor(conn, peers, opts) {
		super();
		this.conn = conn;
		this.peers = peers;
		this.p2pEnabled = opts.p2pEnabled;
		this.p2pTimeoutMs = opts.p2pTimeoutMs;
		this.users = opts.users;
		this.transfers = new Map(); // key -> transfer
		this.order = [];             // keys, oldest first
		this._peerInfoWaiters = new Map(); // user -> [resolve]
		this._goneSince = new Map(); // user -> time they left the list
		this._selfOfflineSince = 0;
		this.sender = new Sender(this);
		this.receiver = new Receiver(this);
		this.v1 = new V1(this);
		peers.addEventListener('channel', (ev) => this.receiver.onChannel(ev.detail));
		conn.addEventListener('registered', () => this._onRegistered());
		conn.addEventListener('state', (ev) => this._onConnState(ev.detail.state));
		setInterval(() => this._tick(), TICK_MS);
	}

	// ---- what the page calls ----

	// Sends files (File objects) to user; returns the new transfers.
	sendFiles(user, files) {
		return this.sender.sendFiles(user, files);
	}

	// The person accepted an offer. toDisk: stream to a file they pick
	// (call from the click handler, the picker needs the gesture).
	async accept(key, toDisk = false) {
		const t = this.transfers.get(key);
		if (t && t.status === 'offered')
			await this.receiver.accept(t, toDisk);
	}

	decline(key) {
		const t = this.transfers.get(key);
		if (t && t.status === 'offered')
			this.receiver.decline(t);
	}

	cancel(key) {
		const t = this.transfers.get(key);
		if (!t || isFinal(t))
			return;
		if (t.protocol === 'transfer' && (t.status !== 'preparing' && t.status !== 'hashing'))
			this.conn.sendOrQueue(this._tmsg(t, 'cancel', {
				reason: 'cancelled by the ' + (t.direction === 'send' ? 'sender' : 'receiver'),
			}));
		this._set(t, 'cancelled', 'you cancelled');
	}

	// Forgets a finished transfer (and frees its Blob).
	remove(key) {
		const t = this.transfers.get(key);
		if (!t || !isFinal(t))
			return;
		if (t.url)
			URL.revokeObjectURL(t.url);
		t.blob = null;
		this.transfers.delete(key);
		this.order = this.order.filter((k) => k !== key);
	}

	// ---- bookkeeping (for send.js, receive.js, v1.js) ----

	_add(t) {
		t.key = t.direction[0] + ':' + t.peer + ':' + t.id;
		t.created = Date.now();
		t.samples = [];
		t.speed = 0;
		t.signal = new Signal();
		this.transfers.set(t.key, t);
		this.order.push(t.key);
		this.dispatchEvent(new CustomEvent('added', { detail: t }));
		return t;
	}

	_changed(t) {
		this.dispatchEvent(new CustomEvent('update', { detail: t }));
	}

	_notice(text) {
		this.dispatchEvent(new CustomEvent('notice', { detail: text }));
	}

	_set(t, status, reason) {
		if (isFinal(t))
			return;
		t.status = status;
		if (reason !== undefined)
			t.reason = reason;
		if (isFinal(t)) {
			t.finished = Date.now();
			this._cleanup(t);
		}
		this._changed(t);
	}

	_fail(t, reason) {
		this._set(t, 'failed', reason);
	}

	_cleanup(t) {
		clearTimeout(t.ackTimer);
		clearTimeout(t.openTimer);
		if (t.unlink) {
			t.unlink();
			t.unlink = null;
		}
		if (t.direction === 'receive' && t.status === 'done' && t.dc)
			this.receiver.lingerChannel(t);
		this._closeChannel(t);
		if (t.core && t.status !== 'done')
			t.core.abort();
		t.core = null;
		t.signal.fire();
		this.v1.cleanup(t);
	}

	_closeChannel(t) {
		const dc = t.dc;
		t.dc = null;
		if (!dc)
			return;
		dc.onopen = dc.onclose = dc.onerror = dc.onmessage = dc.onbufferedamountlow = null;
		try {
			dc.close();
		} catch {
			// already closed
		}
	}

	// A transfer that is still moving (not final).
	_live(t) {
		return !isFinal(t);
	}

	// A TRANSFER message to t's person about t.
	_tmsg(t, action, extra) {
		return Object.assign({ type: 'TRANSFER', recipient: t.peer, id: t.id, action }, extra || {});
	}

	// ---- peer information ----

	serverSpeaksTransfer() {
		const s = this.conn.server;
		return !!(s && s.transfer >= 1);
	}

	serverRelays() {
		const s = this.conn.server;
		return !!(s && s.binaryRelay);
	}

	// What the person's client understands; {online, transfer, binaryRelay}.
	peerInfo(user) {
		const guess = () => ({ online: this.users().has(user), transfer: 0, binaryRelay: false, guessed: true });
		if (!this.serverSpeaksTransfer())
			return Promise.resolve(guess());
		return new Promise((resolve) => {
			let list = this._peerInfoWaiters.get(user);
			const first = !list;
			if (!list) {
				list = [];
				this._peerInfoWaiters.set(user, list);
			}
			const timer = setTimeout(() => {
				const l = this._peerInfoWaiters.get(user);
				if (l) {
					const i = l.indexOf(done);
					if (i >= 0)
						l.splice(i, 1);
					if (l.length === 0)
						this._peerInfoWaiters.delete(user);
				}
				resolve(guess());
			}, PEER_INFO_TIMEOUT_MS);
			const done = (info) => {
				clearTimeout(timer);
				resolve(info || guess());
			};
			list.push(done);
			if (first && !this.conn.send({ type: 'PEER_INFO', user })) {
				this._peerInfoWaiters.delete(user);
				done(guess());
			}
		});
	}

	_onPeerInfo(msg) {
		const list = this._peerInfoWaiters.get(msg.user);
		if (!list)
			return;
		this._peerInfoWaiters.delete(msg.user);
		const info = {
			online: msg.online === true,
			transfer: Number.isInteger(msg.transfer) ? msg.transfer : 0,
			binaryRelay: msg.binaryRelay === true,
		};
		for (const f of list)
			f(info);
	}

	_peerInfoUnsupported() {
		const all = [...this._peerInfoWaiters.values()];
		this._peerInfoWaiters.clear();
		for (const list of all)
			for (const f of list)
				f(null);
	}

	// ---- messages from the server ----

	onMessage(msg) {
		switch (msg.type) {
		case 'TRANSFER':
			this._onTransfer(msg);
			return;
		case 'PEER_INFO':
			if (typeof msg.user === 'string')
				this._onPeerInfo(msg);
			return;
		case 'FILE_METADATA':
			this.v1.onFileMetadata(msg);
			return;
		case 'FILE_CHUNK':
			this.v1.onFileChunk(msg);
			return;
		case 'FILE_COMPLETE':
			this.v1.onFileComplete(msg);
			return;
		case 'ERROR':
			this._onError(typeof msg.message === 'string' ? msg.message : '',
				typeof msg.code === 'string' ? msg.code : '', typeof msg.user === 'string' ? msg.user : '');
			return;
		}
	}

	onBinary(buf) {
		this.receiver.onBinary(buf);
	}

	_onTransfer(msg) {
		const sender = msg.sender;
		if (!plausibleName(sender) || typeof msg.id !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(msg.id))
			return;
		if (msg.action === 'offer') {
			this.receiver.onOffer(sender, msg);
			return;
		}
		const s = this.transfers.get('s:' + sender + ':' + msg.id);
		if (s && !isFinal(s)) {
			this.sender.onMessage(s, msg);
			return;
		}
		const r = this.transfers.get('r:' + sender + ':' + msg.id);
		if (r && !isFinal(r))
			this.receiver.onMessage(r, msg);
	}

	// Fails the live transfers with user that match(t), with reason;
	// returns whether there were any.
	_failWith(user, match, reason) {
		let hit = false;
		for (const t of this.transfers.values())
			if (t.peer === user && !isFinal(t) && match(t)) {
				hit = true;
				this._fail(t, reason);
			}
		return hit;
	}

	// Returns true when the error was about a transfer (and is shown there).
	_onError(text, code, who) {
		const { kind, user } = errorKind(text, code, who);
		let hit;
		switch (kind) {
		case 'no_peer_info':
			this._peerInfoUnsupported();
			return true;
		case 'not_online':
			hit = this._notOnline(user);
			break;
		case 'slow_recipient':
			hit = this._slowRecipient(user);
			break;
		case 'no_binary_relay':
			hit = this._failWith(user, (t) => t.direction === 'send' && t.path === 'relay',
				user + ' does not accept data through the server');
			break;
		case 'no_transfer':
			hit = this._failWith(user, (t) => t.protocol === 'transfer',
				user + "'s client does not understand this page's transfers");
			break;
		case 'unsafe_file_name':
			hit = this._failWith(user, (t) => t.direction === 'send' && t.protocol === 'v1',
				user + "'s older client cannot be sent this file name: rename the file without < > & \" ' `");
			break;
		case 'no_transfer_server':
			for (const t of this.transfers.values())
				if (t.protocol === 'transfer' && !isFinal(t))
					this._fail(t, 'the server does not relay this page\'s transfers');
			return true;
		default:
			this._notice(text);
			return false;
		}
		if (!hit)
			this._notice(text);
		return hit;
	}

	_notOnline(user) {
		let hit = false;
		for (const t of this.transfers.values()) {
			if (t.peer !== user || isFinal(t))
				continue;
			hit = true;
			if (!this._goneSince.has(user))
				this._goneSince.set(user, Date.now());
			// Before any byte moved there is nothing to wait for.
			if (t.status === 'waiting' || t.status === 'offered' || t.protocol === 'v1')
				this._fail(t, user + ' is not online');
		}
		return hit;
	}

	_slowRecipient(user) {
		let hit = false;
		for (const t of this.transfers.values()) {
			if (t.peer !== user || isFinal(t) || t.direction !== 'send')
				continue;
			hit = true;
			if (t.protocol === 'v1' && t.v1ws)
				this._fail(t, user + ' was not keeping up: the file did not arrive whole, send it again later');
			else if (t.path === 'relay')
				this.sender.slowDown(t);
		}
		return hit;
	}

	// The list of online people changed.
	onUsers(users) {
		if (!this.conn.online)
			return; // an empty list while we are away says nothing
		const now = Date.now();
		for (const t of this.transfers.values()) {
			if (isFinal(t))
				continue;
			if (users.has(t.peer))
				this._goneSince.delete(t.peer);
			else if (!this._goneSince.has(t.peer))
				this._goneSince.set(t.peer, now);
		}
		for (const u of [...this._goneSince.keys()])
			if (users.has(u))
				this._goneSince.delete(u);
	}

	_onRegistered() {
		this._selfOfflineSince = 0;
		// Whatever was in flight through the server may be lost: resend
		// from the receivers' acks.
		for (const t of this.transfers.values())
			if (t.direction === 'send' && t.path === 'relay' && inDataPhase(t) && t.protocol === 'transfer')
				this.sender.rewind(t);
	}

	_onConnState(state) {
		if (state === 'online') {
			this._selfOfflineSince = 0;
			return;
		}
		if (state === 'offline') {
			for (const t of this.transfers.values())
				if (!isFinal(t))
					this._fail(t, 'disconnected from the server');
			this.peers.closeAll('disconnected');
			return;
		}
		if (!this._selfOfflineSince)
			this._selfOfflineSince = Date.now();
	}

	// ---- the clock: speed, stalls, time-outs ----

	_tick() {
		const now = Date.now();
		for (const t of this.transfers.values()) {
			if (isFinal(t))
				continue;
			t.speed = speedOf(t, now);
			if (this._selfOfflineSince && now - this._selfOfflineSince > SELF_OFFLINE_MS) {
				this._fail(t, 'the connection to the server was lost');
				continue;
			}
			const gone = this._goneSince.get(t.peer);
			if (gone && now - gone > PEER_GONE_MS) {
				this._fail(t, t.peer + ' went offline');
				continue;
			}
			if (t.direction === 'send' && t.protocol === 'transfer' && inDataPhase(t) && this.conn.online)
				this.sender.checkStall(t, now);
			// (checkStall may have ended it)
			const moving = inDataPhase(t) && t.protocol === 'transfer';
			if (moving && t.lastProgressAt && now - t.lastProgressAt > NO_PROGRESS_MS && this.conn.online) {
				this._noProgress(t);
				continue;
			}
			this._changed(t);
		}
	}

	_noProgress(t) {
		const secs = NO_PROGRESS_MS / 1000;
		if (t.direction === 'receive') {
			this.receiver.failReceive(t, 'no data for ' + secs + ' s');
			return;
		}
		this.conn.sendOrQueue(this._tmsg(t, 'failed', { reason: 'no progress for ' + secs + ' s' }));
		this._fail(t, 'no progress for ' + secs + ' s');
	}

	// The SHA-256 (hex) of a received file as the page holds it, or null
	// (for tests: fetch() of the blob: URL is refused by the page's
	// Content-Security-Policy, connect-src).
	async receivedSha256(id) {
		for (const t of this.transfers.values())
			if (t.direction === 'receive' && t.id === id && t.blob)
				return hashFile(t.blob, null, null, { stream: true });
		return null;
	}

	// Read-only view for the page's test hook.
	snapshot() {
		return this.order.map((k) => this.transfers.get(k)).filter(Boolean).map((t) => ({
			id: t.id,
			direction: t.direction,
			peer: t.peer,
			name: t.name,
			size: t.size,
			status: t.status,
			path: t.path,
			bytes: t.bytes,
			sha256ok: t.sha256ok,
			protocol: t.protocol,
			reason: t.reason || '',
			pathNote: t.pathNote || '',
			url: t.url || null,
		}));
	}
}
