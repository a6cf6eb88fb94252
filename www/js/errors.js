// errors.js: what a server's ERROR is about, for engine.js. Pure.
//
// errorKind(text, code, who) -> {kind, user}: servers that know this
// page's extensions send a code and the user concerned (docs/protocol.md,
// "ERROR"); older ones only English text, matched here and nowhere else.
// kind is one of not_online, slow_recipient, no_binary_relay, no_transfer,
// unsafe_file_name (each with the user), no_peer_info, no_transfer_server (user null), or
// null when the error is about nothing the transfers know.

const CODED = ['not_online', 'slow_recipient', 'no_binary_relay', 'no_transfer', 'unsafe_file_name'];

// The texts, as rtftd words them (docs/protocol.md, "Errors").
const FORMS = [
	[/^(\S+) is not online$/, 'not_online'],
	[/^(\S+) is not keeping up/, 'slow_recipient'],
	[/^(\S+) does not accept binary relay/, 'no_binary_relay'],
	[/^(\S+) does not understand TRANSFER messages/, 'no_transfer'],
	[/^(\S+) uses an older client that would run markup in this file name/, 'unsafe_file_name'],
];

export function errorKind(text, code, who) {
	if (code && who && CODED.includes(code))
		return { kind: code, user: who };
	for (const [re, kind] of FORMS) {
		const m = re.exec(text);
		if (m)
			return { kind, user: m[1] };
	}
	if (/unknown message type "PEER_INFO"/.test(text))
		return { kind: 'no_peer_info', user: null };
	if (/unknown message type "TRANSFER"/.test(text))
		return { kind: 'no_transfer_server', user: null };
	return { kind: null, user: null };
}
