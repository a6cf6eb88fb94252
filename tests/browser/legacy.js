// legacy.js: a client that speaks RTFT protocol v1 only, the way the old
// browser extension does (shared/rtft-protocol-v1.md), for the interop
// tests (tests/integration/test_interop.py). It is loaded into a blank page
// of rtftd's origin and driven through window.legacy.
//
// What it does, like the old extension:
// * one WebSocket to ws://HOST/ (path /), no CAPABILITIES, SET_USERNAME;
// * sending in webrtc mode: FILE_METADATA {file, transferMode:"webrtc"},
//   a new RTCPeerConnection per file with one data channel, WEBRTC_OFFER,
//   WEBRTC_ICE_CANDIDATE as candidates come, the file as 256 KiB binary
//   messages, then the text message {"type":"EOF"};
// * sending in websocket mode: FILE_METADATA {transferMode:"websocket"},
//   FILE_CHUNK {file:{name,size,offset,data:[0..255,...]}} of 256 KiB,
//   FILE_COMPLETE {fileName};
// * receiving: FILE_METADATA, then either a WEBRTC_OFFER (answered, a data
//   channel whose binary messages are the file until {"type":"EOF"}) or
//   FILE_CHUNKs until FILE_COMPLETE.
// It never sends a message type v1 does not have, and it records every
// message it receives so a test can check it was never sent one it does
// not know.
(() => {
	'use strict';

	const CHUNK = 256 * 1024;
	const V1_TYPES = new Set(['USERNAME_SET', 'USERNAME_ERROR', 'USER_LIST', 'ERROR', 'PONG',
		'WEBRTC_OFFER', 'WEBRTC_ANSWER', 'WEBRTC_ICE_CANDIDATE',
		'FILE_METADATA', 'FILE_CHUNK', 'FILE_COMPLETE']);

	const L = {
		name: '',
		ws: null,
		users: [],
		seen: [],          // the type of every text message received, in order
		unknown: [],       // messages a v1 client would not know (binary ones too)
		errors: [],        // ERROR and USERNAME_ERROR messages
		received: [],      // files received: {name, size, type, mode, sha256, messages, largest, sender}
		sent: [],          // files sent: {name, size, sha256, mode, messages}
		log: [],
		incoming: null,    // the file being received
		pcs: [],
	};
	window.legacy = L;

	const out = document.createElement('pre');
	function show() {
		out.textContent = 'legacy v1 client (tests/browser/legacy.js)\n' +
			'name: ' + (L.name || '-') + '\n' +
			'users: ' + L.users.join(', ') + '\n\n' + L.log.slice(-30).join('\n');
	}
	function note(text) {
		L.log.push(new Date().toISOString().slice(11, 23) + ' ' + text);
		show();
	}
	document.title = 'legacy v1 client';
	document.body.replaceChildren(out);
	out.style.cssText = 'font: 14px/1.4 monospace; margin: 16px; white-space: pre-wrap';
	show();

	function send(obj) {
		L.ws.send(JSON.stringify(obj));
	}

	async function sha256Hex(parts) {
		const buf = await new Blob(parts).arrayBuffer();
		const d = new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
		return [...d].map((b) => b.toString(16).padStart(2, '0')).join('');
	}

	function randomBytes(n) {
		const b = new Uint8Array(n);
		for (let i = 0; i < n; i += 65536)
			crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)));
		return b;
	}

	// ---- connection ----

	let chain = Promise.resolve();

	L.connect = (url, name) => new Promise((resolve, reject) => {
		const ws = new WebSocket(url);
		L.ws = ws;
		L.name = name;
		ws.binaryType = 'arraybuffer';
		const timer = setTimeout(() => reject(new Error('no USERNAME_SET within 10 s')), 10000);
		ws.onopen = () => {
			note('connected to ' + url);
			send({ type: 'SET_USERNAME', username: name });
		};
		ws.onclose = (ev) => note('closed ' + ev.code);
		ws.onmessage = (ev) => {
			if (typeof ev.data !== 'string') {
				L.unknown.push('a binary message of ' + ev.data.byteLength + ' bytes');
				return;
			}
			let msg;
			try {
				msg = JSON.parse(ev.data);
			} catch {
				L.unknown.push('not JSON: ' + ev.data.slice(0, 100));
				return;
			}
			L.seen.push(msg.type);
			if (!V1_TYPES.has(msg.type))
				L.unknown.push(ev.data.slice(0, 300));
			if (msg.type === 'USERNAME_SET') {
				clearTimeout(timer);
				L.users = msg.availableUsers || [];
				note('registered as ' + msg.username);
				resolve(msg);
			}
			// one message at a time, in order
			chain = chain.then(() => onMessage(msg)).catch((e) => note('error: ' + e.message));
		};
	});

	async function onMessage(msg) {
		switch (msg.type) {
		case 'USER_LIST':
			L.users = msg.users || [];
			show();
			break;
		case 'ERROR':
		case 'USERNAME_ERROR':
			L.errors.push(msg.message);
			note(msg.type + ': ' + msg.message);
			break;
		case 'FILE_METADATA':
			L.incoming = { sender: msg.sender, name: msg.file.name, size: msg.file.size, type: msg.file.type,
				mode: msg.transferMode, parts: [], bytes: 0, messages: 0, largest: 0 };
			note('FILE_METADATA from ' + msg.sender + ': ' + msg.file.name + ' (' + msg.file.size +
				' bytes, ' + msg.transferMode + ')');
			break;
		case 'FILE_CHUNK': {
			const f = L.incoming;
			if (!f)
				return;
			const data = Uint8Array.from(msg.file.data);
			f.parts.push(data);
			f.bytes += data.length;
			f.messages++;
			f.largest = Math.max(f.largest, data.length);
			break;
		}
		case 'FILE_COMPLETE':
			if (L.incoming)
				await finish(L.incoming, 'websocket');
			break;
		case 'WEBRTC_OFFER':
			await answer(msg);
			break;
		case 'WEBRTC_ANSWER': {
			const pc = L.outgoingPc;
			if (pc)
				await pc.setRemoteDescription(msg.answer);
			break;
		}
		case 'WEBRTC_ICE_CANDIDATE': {
			// v1 candidates carry no file: they belong to the newest
			// connection with their sender
			const pc = L.pcs.filter((p) => p.peer === msg.sender && p.signalingState !== 'closed').pop();
			if (!pc || !msg.candidate)
				return;
			if (!pc.remoteDescription) {
				pc.pending.push(msg.candidate);
				return;
			}
			await pc.addIceCandidate(msg.candidate).catch((e) => note('candidate: ' + e.message));
			break;
		}
		}
	}

	async function finish(f, how) {
		L.incoming = null;
		const sha256 = await sha256Hex(f.parts);
		const rec = { sender: f.sender, name: f.name, size: f.size, type: f.type, mode: f.mode, via: how,
			bytes: f.bytes, sha256, messages: f.messages, largest: f.largest };
		L.received.push(rec);
		note('received ' + f.name + ': ' + f.bytes + ' bytes in ' + f.messages + ' messages via ' + how +
			', sha256 ' + sha256.slice(0, 16) + '...');
	}

	function newPc(peer) {
		const pc = new RTCPeerConnection({ iceServers: [] });
		pc.peer = peer;
		pc.pending = [];
		L.pcs.push(pc);
		pc.onicecandidate = (ev) => {
			if (ev.candidate)
				send({ type: 'WEBRTC_ICE_CANDIDATE', recipient: peer, candidate: ev.candidate.toJSON() });
		};
		pc.onconnectionstatechange = () => note('peer connection with ' + peer + ': ' + pc.connectionState);
		return pc;
	}

	async function flush(pc) {
		for (const c of pc.pending.splice(0))
			await pc.addIceCandidate(c).catch((e) => note('candidate: ' + e.message));
	}

	// A WEBRTC_OFFER: a new connection (the old client makes one per file).
	async function answer(msg) {
		if (L.incomingPc)
			L.incomingPc.close();
		const pc = newPc(msg.sender);
		L.incomingPc = pc;
		pc.ondatachannel = (ev) => {
			const dc = ev.channel;
			dc.binaryType = 'arraybuffer';
			note('data channel "' + dc.label + '" from ' + msg.sender);
			dc.onmessage = (m) => {
				const f = L.incoming;
				if (!f)
					return;
				if (typeof m.data === 'string') {
					let j = null;
					try {
						j = JSON.parse(m.data);
					} catch {
						// not ours
					}
					if (j && j.type === 'EOF')
						finish(f, 'webrtc').catch((e) => note('error: ' + e.message));
					return;
				}
				const data = new Uint8Array(m.data);
				f.parts.push(data);
				f.bytes += data.length;
				f.messages++;
				f.largest = Math.max(f.largest, data.length);
			};
		};
		await pc.setRemoteDescription(msg.offer);
		await flush(pc);
		const a = await pc.createAnswer();
		await pc.setLocalDescription(a);
		send({ type: 'WEBRTC_ANSWER', recipient: msg.sender, answer: { type: a.type, sdp: a.sdp } });
	}

	// ---- sending ----

	// Sends size random bytes as name to recipient; resolves to
	// {name, size, sha256, mode, messages} once every byte is handed over.
	L.sendFile = async (recipient, name, size, mode) => {
		const bytes = randomBytes(size);
		const sha256 = await sha256Hex([bytes]);
		const file = { name, size, type: 'application/octet-stream' };
		send({ type: 'FILE_METADATA', recipient, file, transferMode: mode });
		note('sending ' + name + ' (' + size + ' bytes) to ' + recipient + ' by ' + mode);
		let messages = 0;
		if (mode === 'websocket') {
			for (let off = 0; off < size; off += CHUNK) {
				const part = bytes.subarray(off, Math.min(size, off + CHUNK));
				send({ type: 'FILE_CHUNK', recipient, file: { name, size, offset: off, data: Array.from(part) } });
				messages++;
				while (L.ws.bufferedAmount > 8 * CHUNK)
					await new Promise((r) => setTimeout(r, 10));
			}
			send({ type: 'FILE_COMPLETE', recipient, fileName: name });
		} else {
			if (L.outgoingPc)
				L.outgoingPc.close();
			const pc = newPc(recipient);
			L.outgoingPc = pc;
			const dc = pc.createDataChannel('fileTransfer');
			dc.binaryType = 'arraybuffer';
			const opened = new Promise((resolve, reject) => {
				dc.onopen = resolve;
				setTimeout(() => reject(new Error('the data channel did not open within 15 s')), 15000);
			});
			const offer = await pc.createOffer();
			await pc.setLocalDescription(offer);
			send({ type: 'WEBRTC_OFFER', recipient, offer: { type: offer.type, sdp: offer.sdp } });
			const origAnswer = pc.setRemoteDescription.bind(pc);
			pc.setRemoteDescription = async (d) => {
				await origAnswer(d);
				await flush(pc);
			};
			await opened;
			note('data channel open');
			dc.bufferedAmountLowThreshold = CHUNK;
			for (let off = 0; off < size; off += CHUNK) {
				while (dc.bufferedAmount > 4 * CHUNK)
					await new Promise((r) => {
						dc.onbufferedamountlow = r;
					});
				dc.send(bytes.slice(off, Math.min(size, off + CHUNK)));
				messages++;
			}
			dc.send(JSON.stringify({ type: 'EOF' }));
			while (dc.bufferedAmount > 0)
				await new Promise((r) => setTimeout(r, 20));
		}
		const rec = { name, size, sha256, mode, messages };
		L.sent.push(rec);
		note('sent ' + name + ' in ' + messages + ' messages');
		return rec;
	};
})();
