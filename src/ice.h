/*
 * ice.h: STUN and TURN servers as operators write them (STUN_SERVERS,
 * TURN_SERVERS), TURN credentials for coturn's use-auth-secret (the TURN
 * REST API: username "<expiry>:<user>", password base64(HMAC-SHA1(secret,
 * username))), and the JSON that hands them to clients: GET
 * /api/ice-servers and the ICE_SERVERS message (docs/protocol.md).
 * Pure apart from the clock the callers pass in: no I/O, no logging.
 */
#ifndef RT_ICE_H
#define RT_ICE_H

#include "rtftd.h"

#include <time.h>

#define ICE_MAX_SERVERS 16
#define ICE_MAX_SECRETS 8
#define ICE_HOST_MAX 255
#define ICE_CRED_MAX 255

enum ice_scheme { ICE_STUN, ICE_STUNS, ICE_TURN, ICE_TURNS };
enum ice_transport { ICE_TP_DEFAULT, ICE_TP_UDP, ICE_TP_TCP };

/* One entry of STUN_SERVERS or TURN_SERVERS. */
struct ice_server {
	enum ice_scheme scheme;
	char host[ICE_HOST_MAX + 1]; /* name or address; an IPv6 address without brackets */
	bool host_v6; /* host is an IPv6 literal */
	int port; /* 3478, or 5349 for stuns/turns, when not given */
	enum ice_transport transport; /* "?transport=" of turn/turns */
	/* Static credentials from "turn:user:pass@host" (both set or both
	 * empty); a TURN entry without them gets minted ones. */
	char user[ICE_CRED_MAX + 1];
	char pass[ICE_CRED_MAX + 1];
	/* The URL as an RTCIceServer takes it: no credentials, scheme
	 * lower-case, "?transport=" kept. */
	char url[ICE_HOST_MAX + 64];
};

struct ice_config {
	struct ice_server servers[ICE_MAX_SERVERS];
	int nservers;
	bool relay_only; /* ICE_TRANSPORT_POLICY=relay */
	/* TURN_SECRET, comma separated: the first signs, all are kept so an
	 * operator can list the old one second while coturn still has it. */
	char *secrets[ICE_MAX_SECRETS];
	int nsecrets;
	int ttl_s;
	int p2p_timeout_ms;
};

/* Parses a comma-separated list (STUN_SERVERS when turn is false, else
 * TURN_SERVERS) and appends its entries to ic->servers. White space around
 * entries is ignored, empty entries too. RT_OK, or RT_ERR with err naming
 * the entry and what is wrong with it; ic->nservers is unchanged then. */
int ice_parse_servers(struct ice_config *ic, const char *list, bool turn, struct rt_err *err) RT_MUSTCHECK;

/* Builds ic from the configuration's strings. secrets: TURN_SECRET.
 * RT_OK, or RT_ERR with err naming the key and the entry. ic must be
 * released with ice_config_fini(). */
int ice_config_init(struct ice_config *ic, const char *stun, const char *turn, const char *policy, const char *secrets,
		    int ttl_s, int p2p_timeout_ms, struct rt_err *err) RT_MUSTCHECK;
void ice_config_fini(struct ice_config *ic);

/* True when some TURN entry takes minted credentials (no user:pass in the
 * URL and a secret is set). */
bool ice_mints(const struct ice_config *ic);

/* The password coturn expects for username under secret:
 * base64(HMAC-SHA1(secret, username)), 28 characters and a NUL in out. */
void ice_turn_password(const char *secret, const char *username, char out[29]);

/* The JSON object of docs/protocol.md ("ICE servers") for user (the TURN
 * username's user part; 1..64 bytes of [A-Za-z0-9_.-]) at wall-clock time
 * now. With type_field, "type":"ICE_SERVERS" comes first. Returns a
 * malloc'd NUL-terminated string; *expires_at gets the credentials'
 * expiry (0 when nothing was minted). */
char *ice_json(const struct ice_config *ic, const char *user, time_t now, bool type_field, time_t *expires_at);

/* entry (one list element) with the password of "user:pass@" replaced by
 * ***, for messages and rtftd -t -p. */
void ice_redact_entry(const char *entry, char *out, size_t cap);

/* The whole list so redacted; caller frees. */
char *ice_redact_list(const char *list);

/* "stun:host:port" style text of a server for logs and metrics labels
 * (the url member); never carries credentials. */
const char *ice_server_label(const struct ice_server *s);

#endif
