/*
 * test_ice.c: STUN_SERVERS / TURN_SERVERS parsing, TURN REST credentials
 * (the known answer from design.md and coturn's scheme) and the ICE
 * servers JSON, checked with json-c.
 */
#include "ice.h"
#include "tap.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse(struct ice_config *ic, const char *stun, const char *turn, const char *policy, const char *secret,
		 struct rt_err *err)
{
	return ice_config_init(ic, stun, turn, policy, secret, 3600, 10000, err);
}

static void test_known_answer(void)
{
	char pw[29];
	ice_turn_password("north", "12334939:mbzrxpgjys", pw);
	is_str(pw, "Iq7YXkRon8YXJfdN1Ke9EZOw1UE=", "HMAC-SHA1 known answer (secret north)");
	ice_turn_password("north", "12334939:mbzrxpgjyt", pw);
	ok(strcmp(pw, "Iq7YXkRon8YXJfdN1Ke9EZOw1UE=") != 0, "another username gives another password");
	ice_turn_password("south", "12334939:mbzrxpgjys", pw);
	ok(strcmp(pw, "Iq7YXkRon8YXJfdN1Ke9EZOw1UE=") != 0, "another secret gives another password");
	is_int((int)strlen(pw), 28, "a password is 28 base64 characters");
}

static void test_good_entries(void)
{
	struct ice_config ic;
	struct rt_err err;
	ok(parse(&ic, " stun:stun.example.org , stuns:[2001:db8::1]:443,STUN:10.0.0.1:19302", "", "all", "", &err) ==
		   RT_OK,
	   "three STUN entries parse");
	is_int(ic.nservers, 3, "three servers");
	is_str(ic.servers[0].url, "stun:stun.example.org:3478", "default STUN port is 3478");
	is_str(ic.servers[1].url, "stuns:[2001:db8::1]:443", "IPv6 in brackets with a port");
	ok(ic.servers[1].host_v6 && strcmp(ic.servers[1].host, "2001:db8::1") == 0, "IPv6 host kept without brackets");
	is_str(ic.servers[2].url, "stun:10.0.0.1:19302", "scheme lower-cased");
	ok(!ice_mints(&ic), "no TURN: nothing minted");
	ice_config_fini(&ic);

	ok(parse(&ic, "", "turn:alice:s3cr@t@turn.example.org:3479?transport=udp, turns:turn.example.org", "relay",
		 "first, second", &err) == RT_OK,
	   "TURN with static credentials and one to mint");
	is_int(ic.nservers, 2, "two servers");
	is_str(ic.servers[0].user, "alice", "user from the URL");
	is_str(ic.servers[0].pass, "s3cr@t", "password may hold @ (the last @ ends it)");
	is_str(ic.servers[0].url, "turn:turn.example.org:3479?transport=udp", "URL without credentials");
	is_int(ic.servers[0].transport, ICE_TP_UDP, "transport udp");
	is_str(ic.servers[1].url, "turns:turn.example.org:5349", "turns defaults to 5349");
	ok(ic.relay_only, "policy relay");
	is_int(ic.nsecrets, 2, "two secrets");
	is_str(ic.secrets[0], "first", "first secret signs");
	ok(ice_mints(&ic), "mints for the entry without credentials");
	ice_config_fini(&ic);
}

static void bad(const char *stun, const char *turn, const char *policy, const char *secret, const char *want)
{
	struct ice_config ic;
	struct rt_err err = { 0 };
	int rc = parse(&ic, stun, turn, policy, secret, &err);
	ok(rc == RT_ERR, "refused: stun=\"%s\" turn=\"%s\" policy=%s", stun, turn, policy);
	if (rc == RT_OK) {
		ice_config_fini(&ic);
		return;
	}
	ok(strstr(err.msg, want) != NULL, "message \"%s\" holds \"%s\"", err.msg, want);
	ok(strstr(err.msg, "hunter2") == NULL, "message never shows a password");
}

static void test_bad_entries(void)
{
	bad("stun.example.org", "", "all", "", "stun_servers: \"stun.example.org\"");
	bad("turn:x.org", "", "all", "", "expected a URL starting with stun: or stuns:");
	bad("", "stun:x.org", "all", "k", "expected a URL starting with turn: or turns:");
	bad("stun:x.org:0", "", "all", "", "port from 1 to 65535");
	bad("stun:x.org:65536", "", "all", "", "port from 1 to 65535");
	bad("stun:x.org:12ab", "", "all", "", "port from 1 to 65535");
	bad("stun:2001:db8::1", "", "all", "", "write an IPv6 address in [brackets]");
	bad("stun:[2001:db8::1", "", "all", "", "[brackets]");
	bad("stun:x.org?transport=udp", "", "all", "", "takes no \"?\"");
	bad("stun:u:hunter2@x.org", "", "all", "", "takes no user:password@");
	bad("", "turn:x.org?transport=sctp", "all", "k", "?transport=udp or ?transport=tcp");
	bad("", "turn:u:hunter2@x.org?transport=sctp", "all", "k", "turn:***@x.org");
	/* a password with '?', ':' or a comma, or a forgotten scheme */
	bad("", "turn:u:hun?ter2@x.org", "all", "k", "turn:***@x.org");
	bad("", "turn:hunter2@x.org:1:2", "all", "k", "turn:***@x.org:1:2");
	bad("", "turn:alice:hunter2", "all", "k", "turn:alice:***");
	bad("", "u:hunter2@x.org", "all", "k", "u:***@x.org");
	bad("", "hunter2@x.org", "all", "k", "\"***@x.org\"");
	bad("", "turns:alice:hunter2\xe9@x.org", "all", "k", "printable ASCII only");
	bad("", "turn:alice:pass word@x.org", "all", "k", "printable ASCII only");
	bad("", "turn:x.org", "all", "", "has no user:password@ and turn_secret is empty");
	bad("stun:x.org", "", "relay", "", "needs at least one entry in turn_servers");
	bad("", "turn:x.org", "some", "k", "expected all or relay");
	bad("stun:exa mple.org", "", "all", "", "is not a host name");
	bad("stun:", "", "all", "", "no host");
	bad("", "turn::hunter2@x.org", "all", "k", "expected user:password@");
	bad("stunx:x.org", "", "all", "", "expected a URL starting with stun: or stuns:");
	bad("", "turn:hunter2@x.org", "all", "k", "expected user:password@");
	bad("", "turn:alice:@x.org", "all", "k", "expected user:password@");
	bad("", "turn:u:hun\"ter2@x.org", "all", "k", "printable ASCII only");
	bad("", "turn:u:hun\\ter2@x.org", "all", "k", "printable ASCII only");
	bad("stun:[]", "", "all", "", "an IPv6 address needs [brackets]");
	bad("stun:[2001:db8::g1]", "", "all", "", "\"2001:db8::g1\" is not an IPv6 address");
	bad("stun:[::1]3478", "", "all", "", "expected :port after the address");
	bad("stun:[::1]:", "", "all", "", "port from 1 to 65535");
	bad("stun:x.org:", "", "all", "", "port from 1 to 65535");
	bad("stun:x.org:0000000000000003478", "", "all", "", "port from 1 to 65535");
}

/* The limits of one entry: the longest host and credentials pass, one byte
 * more is refused. */
static void test_entry_limits(void)
{
	char host[ICE_HOST_MAX + 2], cred[ICE_CRED_MAX + 2], stun[sizeof host + 16], turn[2 * sizeof cred + 32];
	struct ice_config ic;
	struct rt_err err;

	memset(host, 'a', ICE_HOST_MAX); /* a hex digit too */
	host[ICE_HOST_MAX] = '\0';
	snprintf(stun, sizeof stun, "stun:%s", host);
	ok(parse(&ic, stun, "", "all", "", &err) == RT_OK, "a host of %d bytes", ICE_HOST_MAX);
	ice_config_fini(&ic);
	snprintf(stun, sizeof stun, "stun:[%sa]", host);
	bad(stun, "", "all", "", "host too long");
	snprintf(stun, sizeof stun, "stun:%sa", host);
	bad(stun, "", "all", "", "host too long");

	memset(cred, 'c', ICE_CRED_MAX);
	cred[ICE_CRED_MAX] = '\0';
	snprintf(turn, sizeof turn, "turn:%s:%s@x.org", cred, cred);
	ok(parse(&ic, "", turn, "all", "", &err) == RT_OK, "user and password of %d bytes each", ICE_CRED_MAX);
	is_int((int)strlen(ic.servers[0].user) + (int)strlen(ic.servers[0].pass), 2 * ICE_CRED_MAX,
	       "both kept whole");
	ice_config_fini(&ic);
	snprintf(turn, sizeof turn, "turn:u:hunter2%.*s@x.org", ICE_CRED_MAX - 6, cred);
	bad("", turn, "all", "k", "user or password longer than 255 bytes");
	snprintf(turn, sizeof turn, "turn:%su:p@x.org", cred);
	bad("", turn, "all", "k", "user or password longer than 255 bytes");
}

/* Spellings that parse into the same canonical URL. */
static void test_entry_forms(void)
{
	struct ice_config ic;
	struct rt_err err;
	int rc = parse(&ic, "stun:[::1],stuns:x.org", "turn://x.org,TURNS:x.org:443?Transport=TCP", "all", "k", &err);
	ok(rc == RT_OK, "bracketed IPv6 without a port, turn://, upper-case scheme and query");
	is_int(ic.nservers, 4, "four servers");
	is_str(ic.servers[0].url, "stun:[::1]:3478", "IPv6 gets the default port");
	is_str(ic.servers[1].url, "stuns:x.org:5349", "stuns defaults to 5349");
	is_str(ic.servers[2].url, "turn:x.org:3478", "turn:// is read as turn:");
	is_str(ic.servers[3].url, "turns:x.org:443?transport=tcp", "query lower-cased");
	is_int(ic.servers[3].transport, ICE_TP_TCP, "transport tcp");
	is_int(ic.servers[2].transport, ICE_TP_DEFAULT, "no query: no transport");
	ice_config_fini(&ic);
}

static void test_json(void)
{
	struct ice_config ic;
	struct rt_err err;
	ok(parse(&ic, "stun:127.0.0.1:3478", "turn:127.0.0.1:3478?transport=udp,turn:bob:pw@10.1.1.1", "all",
		 "north,old", &err) == RT_OK,
	   "config for the JSON");
	time_t exp = 0;
	char *js = ice_json(&ic, "alice", 12334939 - 3600, true, &exp);
	is_int((int)exp, 12334939, "expiry is now + ttl");
	json_object *o = json_tokener_parse(js);
	ok(o != NULL, "the JSON parses: %s", js);
	json_object *v;
	ok(json_object_object_get_ex(o, "type", &v) && strcmp(json_object_get_string(v), "ICE_SERVERS") == 0,
	   "type first when asked");
	ok(json_object_object_get_ex(o, "iceServers", &v) && json_object_array_length(v) == 3,
	   "three RTCIceServer entries (STUN, static TURN, minted TURN)");
	json_object *minted = json_object_array_get_idx(v, 2), *u, *c;
	ok(json_object_object_get_ex(minted, "username", &u) &&
		   strcmp(json_object_get_string(u), "12334939:alice") == 0,
	   "minted username is <expiry>:<user>");
	char pw[29];
	ice_turn_password("north", "12334939:alice", pw);
	ok(json_object_object_get_ex(minted, "credential", &c) && strcmp(json_object_get_string(c), pw) == 0,
	   "minted credential signed with the first secret");
	json_object *stat = json_object_array_get_idx(v, 1);
	ok(json_object_object_get_ex(stat, "credential", &c) && strcmp(json_object_get_string(c), "pw") == 0,
	   "static credential passed through");
	ok(json_object_object_get_ex(o, "ttl", &v) && json_object_get_int(v) == 3600, "ttl");
	ok(json_object_object_get_ex(o, "uris", &v) && json_object_array_length(v) == 1 &&
		   strcmp(json_object_get_string(json_object_array_get_idx(v, 0)),
			  "turn:127.0.0.1:3478?transport=udp") == 0,
	   "uris: the minted servers only");
	ok(json_object_object_get_ex(o, "iceTransportPolicy", &v) && strcmp(json_object_get_string(v), "all") == 0,
	   "policy");
	ok(json_object_object_get_ex(o, "p2pTimeoutMs", &v) && json_object_get_int(v) == 10000, "p2p timeout");
	json_object_put(o);
	free(js);
	ice_config_fini(&ic);

	ok(parse(&ic, "", "", "all", "", &err) == RT_OK, "nothing configured is valid");
	js = ice_json(&ic, "x", 1000, false, &exp);
	is_str(js, "{\"iceServers\":[],\"iceTransportPolicy\":\"all\",\"p2pTimeoutMs\":10000}",
	       "empty configuration: empty list, no REST fields");
	is_int((int)exp, 0, "no expiry");
	free(js);
	ice_config_fini(&ic);
}

static void test_redact(void)
{
	char *r = ice_redact_list("turn:u:hunter2@h:1, stun:h ,turn:h2,turn:[::1]:5,turn:h3:7?transport=tcp");
	is_str(r, "turn:***@h:1,stun:h,turn:h2,turn:[::1]:5,turn:h3:7?transport=tcp", "redacted list");
	free(r);
}

int main(void)
{
	test_known_answer();
	test_good_entries();
	test_bad_entries();
	test_entry_limits();
	test_entry_forms();
	test_json();
	test_redact();
	return done_testing();
}
