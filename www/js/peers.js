// peers.js: WebRTC peer connections, one per remote user at a time.
//
// The v1 signaling messages (WEBRTC_OFFER, WEBRTC_ANSWER,
// WEBRTC_ICE_CANDIDATE) carry no transfer id, so this page keeps at most
// one RTCPeerConnection per remote user and multiplexes: every transfer
// with that user gets its own data channel (label "rtft:<id>") on the
// shared connection. Channels after the first need no new negotiation.
// Both sides may start a connection at the same moment; the glare is
// resolved by "perfect negotiation": the side whose name sorts first is
// polite (rolls its own offer back), the other ignores the colliding
// offer.
//
// An offer whose SDP session id (the o= line) differs from the one the
// current connection negotiated comes from a new RTCPeerConnection on the
// other side (a reloaded page, or an old client, which opens one
// connection per file): the current connection is closed and replaced.
//
// Events of a Link: 'close' (the connection ended or failed; its channels
// are dead), 'channel' (detail: RTCDataChannel opened by the other side).

const LINK_FAILED_GRACE_MS = 5000;

function sessionIdOf(sdp) {
	const m = /^o=\S+ (\S+) /m.exec(typeof sdp === 'string' ? sdp : '');
	return m ? m[1] : '';
}

export class Link extends EventTarget {
	constructor(mgr, user, config, legacy) {
		super();
		this.mgr = mgr;
		this.user = user;
		this.legacy = legacy; // made for one v1 file (an old client)
		this.polite = mgr.myName() < user;
		this.closed = false;
		this.remoteSession = '';
		this._makingOffer = false;
		this._ignoreOffer = false;
		this._chain = Promise.resolve(); // signaling handled one at a time
		this._pendingCandidates = [];
		this._disconnectTimer = 0;
		const pc = new RTCPeerConnection(config);
		this.pc = pc;
		pc.onnegotiationneeded = async () => {
			try {
				this._makingOffer = true;
				await pc.setLocalDescription();
				if (this.closed)
					return;
				this.mgr.send({ type: 'WEBRTC_OFFER', recipient: this.user, offer: descJSON(pc.localDescription) });
			} catch (e) {
				this.mgr.log('offer to ' + this.user + ' failed: ' + e.message);
			} finally {
				this._makingOffer = false;
			}
		};
		pc.onicecandidate = (ev) => {
			if (ev.candidate && !this.closed)
				this.mgr.send({ type: 'WEBRTC_ICE_CANDIDATE', recipient: this.user, candidate: ev.candidate.toJSON() });
		};
		pc.ondatachannel = (ev) => {
			this.dispatchEvent(new CustomEvent('channel', { detail: ev.channel }));
		};
		pc.onconnectionstatechange = () => {
			const st = pc.connectionState;
			clearTimeout(this._disconnectTimer);
			if (st === 'failed' || st === 'closed')
				this.close('peer to peer connection ' + st);
			else if (st === 'disconnected')
				this._disconnectTimer = setTimeout(() => {
					if (pc.connectionState === 'disconnected')
						this.close('peer to peer connection lost');
				}, LINK_FAILED_GRACE_MS);
		};
	}

	// A reliable, ordered data channel on this connection.
	channel(label) {
		const dc = this.pc.createDataChannel(label, { ordered: true });
		dc.binaryType = 'arraybuffer';
		return dc;
	}

	close(reason = 'closed') {
		if (this.closed)
			return;
		this.closed = true;
		clearTimeout(this._disconnectTimer);
		try {
			this.pc.close();
		} catch {
			// already closed
		}
		this.mgr._forget(this);
		this.dispatchEvent(new CustomEvent('close', { detail: { reason } }));
	}

	_enqueue(fn) {
		this._chain = this._chain.then(fn).catch((e) => {
			this.mgr.log('signaling with ' + this.user + ': ' + e.message);
		});
	}

	_onOffer(offer) {
		this._enqueue(async () => {
			if (this.closed)
				return;
			const pc = this.pc;
			const collision = this._makingOffer || pc.signalingState !== 'stable';
			this._ignoreOffer = !this.polite && collision;
			if (this._ignoreOffer)
				return;
			await pc.setRemoteDescription(offer);
			this.remoteSession = sessionIdOf(offer.sdp);
			await this._flushCandidates();
			await pc.setLocalDescription();
			if (!this.closed)
				this.mgr.send({ type: 'WEBRTC_ANSWER', recipient: this.user, answer: descJSON(pc.localDescription) });
		});
	}

	_onAnswer(answer) {
		this._enqueue(async () => {
			if (this.closed || this.pc.signalingState !== 'have-local-offer')
				return;
			await this.pc.setRemoteDescription(answer);
			this.remoteSession = sessionIdOf(answer.sdp);
			await this._flushCandidates();
		});
	}

	_onCandidate(candidate) {
		this._enqueue(async () => {
			if (this.closed)
				return;
			if (!this.pc.remoteDescription) {
				if (this._pendingCandidates.length < 200)
					this._pendingCandidates.push(candidate);
				return;
			}
			try {
				await this.pc.addIceCandidate(candidate);
			} catch (e) {
				if (!this._ignoreOffer)
					throw e;
			}
		});
	}

	async _flushCandidates() {
		const list = this._pendingCandidates;
		this._pendingCandidates = [];
		for (const c of list) {
			try {
				await this.pc.addIceCandidate(c);
			} catch {
				// a candidate of an offer we ignored
			}
		}
	}
}

function descJSON(desc) {
	return desc && typeof desc.toJSON === 'function' ? desc.toJSON() : { type: desc.type, sdp: desc.sdp };
}

export class PeerManager extends EventTarget {
	// opts: send(obj) sends a signaling message; myName() our name;
	// iceConfig() resolves to an RTCConfiguration; enabled() false when
	// peer to peer is off; log(text).
	constructor(opts) {
		super();
		this.send = opts.send;
		this.myName = opts.myName;
		this.iceConfig = opts.iceConfig;
		this.enabled = opts.enabled;
		this.log = opts.log || (() => {});
		this.links = new Map(); // user -> Link
		this._sig = Promise.resolve();
	}

	static supported() {
		return typeof RTCPeerConnection === 'function';
	}

	// The shared connection to user, made when there is none.
	async link(user) {
		const have = this.links.get(user);
		if (have && !have.closed && !have.legacy)
			return have;
		const config = await this.iceConfig();
		const again = this.links.get(user);
		if (again && !again.closed && !again.legacy)
			return again;
		if (again)
			again.close('replaced');
		return this._make(user, config, false);
	}

	// A fresh connection for one v1 file to an old client (which expects a
	// new connection, and a new offer, per file).
	async legacyLink(user) {
		const config = await this.iceConfig();
		const have = this.links.get(user);
		if (have)
			have.close('replaced');
		return this._make(user, config, true);
	}

	_make(user, config, legacy) {
		const l = new Link(this, user, config, legacy);
		this.links.set(user, l);
		l.addEventListener('channel', (ev) => {
			this.dispatchEvent(new CustomEvent('channel', { detail: { user, link: l, channel: ev.detail } }));
		});
		this.dispatchEvent(new CustomEvent('link', { detail: l }));
		return l;
	}

	_forget(l) {
		if (this.links.get(l.user) === l)
			this.links.delete(l.user);
	}

	// Closes the connection to a user who went away.
	drop(user, reason) {
		const l = this.links.get(user);
		if (l)
			l.close(reason);
	}

	// New ICE servers (fresh TURN credentials) for the connections that
	// exist; new ones get them from iceConfig().
	updateConfig(config) {
		for (const l of this.links.values()) {
			try {
				l.pc.setConfiguration(config);
			} catch (e) {
				this.log('new ICE servers for ' + l.user + ': ' + e.message);
			}
		}
	}

	closeAll(reason) {
		for (const l of [...this.links.values()])
			l.close(reason);
	}

	// WEBRTC_OFFER, WEBRTC_ANSWER and WEBRTC_ICE_CANDIDATE from the server,
	// handled in the order they came (an offer may have to wait for the
	// ICE configuration; the candidates after it must not overtake it).
	onSignal(msg) {
		this._sig = this._sig.then(() => this._onSignal(msg)).catch((e) => this.log('signaling: ' + e.message));
	}

	async _onSignal(msg) {
		const user = msg.sender;
		if (typeof user !== 'string' || !this.enabled())
			return;
		if (msg.type === 'WEBRTC_OFFER') {
			const offer = msg.offer;
			if (!offer || typeof offer.sdp !== 'string')
				return;
			const sid = sessionIdOf(offer.sdp);
			let l = this.links.get(user);
			if (l && l.remoteSession && sid && l.remoteSession !== sid) {
				l.close('the other side started a new connection');
				l = null;
			}
			if (!l || l.closed) {
				const config = await this.iceConfig();
				l = this.links.get(user);
				if (!l || l.closed)
					l = this._make(user, config, false);
			}
			l._onOffer({ type: 'offer', sdp: offer.sdp });
		} else if (msg.type === 'WEBRTC_ANSWER') {
			const l = this.links.get(user);
			if (l && msg.answer && typeof msg.answer.sdp === 'string')
				l._onAnswer({ type: 'answer', sdp: msg.answer.sdp });
		} else if (msg.type === 'WEBRTC_ICE_CANDIDATE') {
			const l = this.links.get(user);
			const c = msg.candidate;
			if (l && c && typeof c === 'object' && typeof c.candidate === 'string')
				l._onCandidate(c);
		}
	}
}
