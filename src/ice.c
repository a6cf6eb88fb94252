/*
 * ice.c: parsing STUN_SERVERS / TURN_SERVERS, minting TURN REST
 * credentials (HMAC-SHA1 from libcrypto: libsodium has no SHA-1), and the
 * ICE servers JSON. See ice.h.
 */
#include "autoconf.h"
#include "ice.h"
#include "util.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *scheme_names[] = { "stun", "stuns", "turn", "turns" };

const char *ice_server_label(const struct ice_server *s)
{
	return s->url;
}

static bool host_char_ok(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_';
}

/* What may stand for a password: never print it. With an '@' anywhere,
 * everything between the scheme and the last '@' goes (a password may hold
 * '?', ':' or '@'). Without one, "scheme:a:b" where b is not a port may be
 * a user and a password cut at a ',' (the list separator): b goes. */
void ice_redact_entry(const char *entry, char *out, size_t cap)
{
	const char *at = strrchr(entry, '@');
	const char *colon = strchr(entry, ':');
	size_t sl = colon ? (size_t)(colon - entry) : 0;
	bool scheme = sl > 0 && sl <= 5;
	for (size_t i = 0; scheme && i < sl; i++)
		scheme = isalpha((unsigned char)entry[i]);
	if (at) {
		if (scheme)
			snprintf(out, cap, "%.*s:***%s", (int)sl, entry, at);
		else
			snprintf(out, cap, "***%s", at);
		return;
	}
	const char *rest = scheme ? colon + 1 : entry;
	const char *c2 = rest[0] == '[' ? NULL : strchr(rest, ':');
	if (c2) {
		const char *p = c2 + 1;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == c2 + 1 || (*p && *p != '?')) {
			snprintf(out, cap, "%.*s:***", (int)(c2 - entry), entry);
			return;
		}
	}
	snprintf(out, cap, "%s", entry);
}

/* Calls fn(item, arg) for each item of a comma-separated list, white
 * space trimmed, empty items skipped; stops at the first that does not
 * return RT_OK and returns that. The working copy is wiped before it is
 * freed: a list may hold passwords or secrets. */
static int each_item(const char *list, int (*fn)(char *item, void *arg), void *arg)
{
	char *copy = xstrdup(list ? list : "");
	size_t len = strlen(copy);
	char *save = NULL;
	int rc = RT_OK;
	for (char *tok = strtok_r(copy, ",", &save); tok && rc == RT_OK; tok = strtok_r(NULL, ",", &save)) {
		char *item = str_trim(tok);
		if (*item)
			rc = fn(item, arg);
	}
	memset(copy, 0, len);
	free(copy);
	return rc;
}

static bool is_turn(const struct ice_server *s)
{
	return s->scheme == ICE_TURN || s->scheme == ICE_TURNS;
}

static int redact_one(char *item, void *arg)
{
	struct strbuf *b = arg;
	char one[512];
	ice_redact_entry(item, one, sizeof one);
	strbuf_printf(b, "%s%s", b->len ? "," : "", one);
	return RT_OK;
}

char *ice_redact_list(const char *list)
{
	struct strbuf b;
	strbuf_init(&b);
	(void)each_item(list, redact_one, &b);
	return strbuf_take(&b);
}

/* The steps of parse_one. Each reads its part of the entry, fills its
 * fields of s and says where the next part starts; entry is the redacted
 * copy that error messages quote. */

/* "scheme:": which of scheme_names, and whether it is of the list (turn)
 * being read. *rest: what follows the colon (and a "//" after it). */
static int parse_scheme(struct ice_server *s, const char *raw, bool turn, const char *entry, const char **rest,
			struct rt_err *err)
{
	const char *colon = strchr(raw, ':');
	if (!colon) {
		rt_err_set(err, "\"%s\": expected %s:host[:port]", entry, turn ? "turn" : "stun");
		return RT_ERR;
	}
	size_t sl = (size_t)(colon - raw);
	int scheme = -1;
	for (int i = 0; i < 4; i++)
		if (strlen(scheme_names[i]) == sl && strncasecmp(raw, scheme_names[i], sl) == 0)
			scheme = i;
	bool turn_scheme = scheme == ICE_TURN || scheme == ICE_TURNS;
	if (scheme < 0 || turn_scheme != turn) {
		rt_err_set(err, "\"%s\": expected a URL starting with %s", entry,
			   turn ? "turn: or turns:" : "stun: or stuns:");
		return RT_ERR;
	}
	s->scheme = (enum ice_scheme)scheme;
	*rest = colon + 1;
	if ((*rest)[0] == '/' && (*rest)[1] == '/')
		*rest += 2; /* "turn://host" is not RFC 7065, but people write it */
	return RT_OK;
}

/* The query: only ?transport=udp|tcp, only for TURN. *end: where the part
 * before it ends. */
static int parse_query(struct ice_server *s, const char *rest, bool turn, const char *entry, const char **end,
		       struct rt_err *err)
{
	const char *q = strchr(rest, '?');
	*end = q ? q : rest + strlen(rest);
	if (!q)
		return RT_OK;
	if (!turn) {
		rt_err_set(err, "\"%s\": a STUN URL takes no \"?\" parameters", entry);
		return RT_ERR;
	}
	if (strcasecmp(q + 1, "transport=udp") == 0) {
		s->transport = ICE_TP_UDP;
	} else if (strcasecmp(q + 1, "transport=tcp") == 0) {
		s->transport = ICE_TP_TCP;
	} else {
		rt_err_set(err, "\"%s\": expected ?transport=udp or ?transport=tcp", entry);
		return RT_ERR;
	}
	return RT_OK;
}

/* user:pass@ in [rest, end), up to the last '@' (a password may hold '@').
 * *hp: where the host starts. */
static int parse_credentials(struct ice_server *s, const char *rest, const char *end, bool turn, const char *entry,
			     const char **hp, struct rt_err *err)
{
	const char *at = NULL;
	for (const char *p = rest; p < end; p++)
		if (*p == '@')
			at = p;
	*hp = rest;
	if (!at)
		return RT_OK;
	if (!turn) {
		rt_err_set(err, "\"%s\": a STUN URL takes no user:password@", entry);
		return RT_ERR;
	}
	const char *uc = memchr(rest, ':', (size_t)(at - rest));
	if (!uc || uc == rest || uc + 1 == at) {
		rt_err_set(err, "\"%s\": expected user:password@ before the host", entry);
		return RT_ERR;
	}
	size_t ul = (size_t)(uc - rest), pl = (size_t)(at - uc - 1);
	if (ul > ICE_CRED_MAX || pl > ICE_CRED_MAX) {
		rt_err_set(err, "\"%s\": user or password longer than %d bytes", entry, ICE_CRED_MAX);
		return RT_ERR;
	}
	memcpy(s->user, rest, ul);
	memcpy(s->pass, uc + 1, pl);
	for (size_t i = 0; i < ul + pl; i++) {
		unsigned char c = i < ul ? (unsigned char)s->user[i] : (unsigned char)s->pass[i - ul];
		if (c < 0x21 || c > 0x7e || c == '"' || c == '\\' || c == ',') {
			rt_err_set(err,
				   "turn entry for %.*s: the user and password may hold printable ASCII "
				   "only, without spaces, quotes, backslashes or commas",
				   (int)(end - at - 1), at + 1);
			return RT_ERR;
		}
	}
	*hp = at + 1;
	return RT_OK;
}

/* "[v6]" at hp, then nothing or ':'. *pp: the port's first byte, or NULL. */
static int parse_host_v6(struct ice_server *s, const char *hp, const char *end, const char *entry, const char **pp,
			 struct rt_err *err)
{
	const char *close = memchr(hp, ']', (size_t)(end - hp));
	if (!close || close == hp + 1) {
		rt_err_set(err, "\"%s\": an IPv6 address needs [brackets]", entry);
		return RT_ERR;
	}
	for (const char *p = hp + 1; p < close; p++)
		if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.') {
			rt_err_set(err, "\"%s\": \"%.*s\" is not an IPv6 address", entry, (int)(close - hp - 1),
				   hp + 1);
			return RT_ERR;
		}
	s->host_v6 = true;
	if ((size_t)(close - hp - 1) > ICE_HOST_MAX) {
		rt_err_set(err, "\"%s\": host too long", entry);
		return RT_ERR;
	}
	memcpy(s->host, hp + 1, (size_t)(close - hp - 1));
	const char *hend = close + 1;
	*pp = NULL;
	if (hend < end) {
		if (*hend != ':') {
			rt_err_set(err, "\"%s\": expected :port after the address", entry);
			return RT_ERR;
		}
		*pp = hend + 1;
	}
	return RT_OK;
}

/* A name or IPv4 address at hp, then an optional ':'. *pp as above. */
static int parse_host_name(struct ice_server *s, const char *hp, const char *end, const char *entry, const char **pp,
			   struct rt_err *err)
{
	const char *pc = memchr(hp, ':', (size_t)(end - hp));
	if (pc && memchr(pc + 1, ':', (size_t)(end - pc - 1))) {
		rt_err_set(err, "\"%s\": write an IPv6 address in [brackets]", entry);
		return RT_ERR;
	}
	const char *hend = pc ? pc : end;
	if (hend == hp) {
		rt_err_set(err, "\"%s\": no host", entry);
		return RT_ERR;
	}
	if ((size_t)(hend - hp) > ICE_HOST_MAX) {
		rt_err_set(err, "\"%s\": host too long", entry);
		return RT_ERR;
	}
	for (const char *p = hp; p < hend; p++)
		if (!host_char_ok(*p)) {
			rt_err_set(err, "\"%s\": \"%.*s\" is not a host name or address", entry, (int)(hend - hp), hp);
			return RT_ERR;
		}
	memcpy(s->host, hp, (size_t)(hend - hp));
	*pp = pc ? pc + 1 : NULL;
	return RT_OK;
}

/* The port in [pp, end), or the scheme's default when pp is NULL. */
static int parse_port(struct ice_server *s, const char *pp, const char *end, const char *entry, struct rt_err *err)
{
	s->port = s->scheme == ICE_STUNS || s->scheme == ICE_TURNS ? 5349 : 3478;
	if (!pp)
		return RT_OK;
	long long port = 0;
	char buf[16];
	size_t pl = (size_t)(end - pp);
	if (pl == 0 || pl >= sizeof buf) {
		rt_err_set(err, "\"%s\": expected a port from 1 to 65535", entry);
		return RT_ERR;
	}
	memcpy(buf, pp, pl);
	buf[pl] = '\0';
	if (str_to_ll(buf, &port) != RT_OK || port < 1 || port > 65535) {
		rt_err_set(err, "\"%s\": expected a port from 1 to 65535", entry);
		return RT_ERR;
	}
	s->port = (int)port;
	return RT_OK;
}

/* s->url: the entry as the clients get it, without credentials. */
static void format_url(struct ice_server *s)
{
	char url[sizeof s->url];
	snprintf(url, sizeof url, "%s:%s%s%s:%d%s", scheme_names[s->scheme], s->host_v6 ? "[" : "", s->host,
		 s->host_v6 ? "]" : "", s->port,
		 s->transport == ICE_TP_UDP   ? "?transport=udp"
		 : s->transport == ICE_TP_TCP ? "?transport=tcp"
					      : "");
	memcpy(s->url, url, sizeof url);
}

/* One entry, without surrounding white space:
 * scheme:[//][user:pass@](host|[v6])[:port][?transport=udp|tcp]. Errors
 * quote it with any password replaced by ***. */
static int parse_one(struct ice_server *s, const char *raw, bool turn, struct rt_err *err)
{
	char entry[512];
	ice_redact_entry(raw, entry, sizeof entry);
	memset(s, 0, sizeof *s);
	const char *rest, *end, *hp, *pp;
	if (parse_scheme(s, raw, turn, entry, &rest, err) != RT_OK ||
	    parse_query(s, rest, turn, entry, &end, err) != RT_OK ||
	    parse_credentials(s, rest, end, turn, entry, &hp, err) != RT_OK)
		return RT_ERR;
	int rc = *hp == '[' ? parse_host_v6(s, hp, end, entry, &pp, err) : parse_host_name(s, hp, end, entry, &pp, err);
	if (rc != RT_OK || parse_port(s, pp, end, entry, err) != RT_OK)
		return RT_ERR;
	format_url(s);
	return RT_OK;
}

struct server_parse {
	struct ice_config *ic;
	bool turn;
	struct rt_err *err;
};

static int server_one(char *item, void *arg)
{
	struct server_parse *sp = arg;
	if (sp->ic->nservers >= ICE_MAX_SERVERS) {
		rt_err_set(sp->err, "more than %d STUN and TURN servers", ICE_MAX_SERVERS);
		return RT_ERR;
	}
	if (parse_one(&sp->ic->servers[sp->ic->nservers], item, sp->turn, sp->err) != RT_OK)
		return RT_ERR;
	sp->ic->nservers++;
	return RT_OK;
}

int ice_parse_servers(struct ice_config *ic, const char *list, bool turn, struct rt_err *err)
{
	int n0 = ic->nservers;
	struct server_parse sp = { ic, turn, err };
	if (each_item(list, server_one, &sp) != RT_OK) {
		ic->nservers = n0;
		return RT_ERR;
	}
	return RT_OK;
}

struct secret_add {
	struct ice_config *ic;
	struct rt_err *err;
};

static int secret_one(char *item, void *arg)
{
	struct secret_add *sa = arg;
	if (sa->ic->nsecrets >= ICE_MAX_SECRETS) {
		rt_err_set(sa->err, "turn_secret: more than %d secrets", ICE_MAX_SECRETS);
		return RT_ERR;
	}
	sa->ic->secrets[sa->ic->nsecrets++] = xstrdup(item);
	return RT_OK;
}

int ice_config_init(struct ice_config *ic, const char *stun, const char *turn, const char *policy, const char *secrets,
		    int ttl_s, int p2p_timeout_ms, struct rt_err *err)
{
	memset(ic, 0, sizeof *ic);
	ic->ttl_s = ttl_s;
	ic->p2p_timeout_ms = p2p_timeout_ms;
	struct rt_err e;
	if (ice_parse_servers(ic, stun, false, &e) != RT_OK) {
		rt_err_set(err, "stun_servers: %s", e.msg);
		return RT_ERR;
	}
	if (ice_parse_servers(ic, turn, true, &e) != RT_OK) {
		rt_err_set(err, "turn_servers: %s", e.msg);
		return RT_ERR;
	}
	if (!policy || !*policy || strcasecmp(policy, "all") == 0)
		ic->relay_only = false;
	else if (strcasecmp(policy, "relay") == 0)
		ic->relay_only = true;
	else {
		rt_err_set(err, "ice_transport_policy: \"%s\": expected all or relay", policy);
		return RT_ERR;
	}
	struct secret_add sa = { ic, err };
	if (each_item(secrets, secret_one, &sa) != RT_OK) {
		ice_config_fini(ic);
		return RT_ERR;
	}
	bool any_turn = false;
	for (int i = 0; i < ic->nservers; i++) {
		const struct ice_server *s = &ic->servers[i];
		if (!is_turn(s))
			continue;
		any_turn = true;
		if (!s->user[0] && ic->nsecrets == 0) {
			rt_err_set(err,
				   "turn_servers: \"%s\" has no user:password@ and turn_secret is empty: "
				   "give one or the other",
				   s->url);
			ice_config_fini(ic);
			return RT_ERR;
		}
	}
	if (ic->relay_only && !any_turn) {
		rt_err_set(err, "ice_transport_policy: \"relay\" needs at least one entry in turn_servers");
		ice_config_fini(ic);
		return RT_ERR;
	}
	return RT_OK;
}

void ice_config_fini(struct ice_config *ic)
{
	for (int i = 0; i < ic->nsecrets; i++) {
		memset(ic->secrets[i], 0, strlen(ic->secrets[i]));
		free(ic->secrets[i]);
		ic->secrets[i] = NULL;
	}
	ic->nsecrets = 0;
}

bool ice_mints(const struct ice_config *ic)
{
	if (ic->nsecrets == 0)
		return false;
	for (int i = 0; i < ic->nservers; i++)
		if (is_turn(&ic->servers[i]) && !ic->servers[i].user[0])
			return true;
	return false;
}

void ice_turn_password(const char *secret, const char *username, char out[29])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	if (!HMAC(EVP_sha1(), secret, (int)strlen(secret), (const unsigned char *)username, strlen(username), mac,
		  &maclen) ||
	    maclen != 20)
		abort(); /* libcrypto without SHA-1: no credential can be minted at all */
	/* 20 bytes of SHA-1 are 28 characters of base64 with one '=' */
	EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen);
	out[28] = '\0';
}

/* JSON string content; every value here is ASCII without quotes or
 * backslashes (checked when parsed), except static passwords, which are
 * checked too. */
static void add_str(struct strbuf *b, const char *key, const char *val, bool comma)
{
	strbuf_printf(b, "%s\"%s\":\"%s\"", comma ? "," : "", key, val);
}

/* "url","url",... of the STUN servers (minted false) or of the TURN
 * servers that take minted credentials. */
static void put_urls(struct strbuf *b, const struct ice_config *ic, bool minted)
{
	int n = 0;
	for (int i = 0; i < ic->nservers; i++) {
		const struct ice_server *s = &ic->servers[i];
		if (minted ? is_turn(s) && !s->user[0] : !is_turn(s))
			strbuf_printf(b, "%s\"%s\"", n++ ? "," : "", s->url);
	}
}

char *ice_json(const struct ice_config *ic, const char *user, time_t now, bool type_field, time_t *expires_at)
{
	struct strbuf b;
	strbuf_init(&b);
	strbuf_printf(&b, "{%s\"iceServers\":[", type_field ? "\"type\":\"ICE_SERVERS\"," : "");
	bool mint = ice_mints(ic);
	time_t expiry = mint ? now + ic->ttl_s : 0;
	char username[ICE_CRED_MAX + 32] = "", password[29] = "";
	if (mint) {
		snprintf(username, sizeof username, "%lld:%s", (long long)expiry, user);
		ice_turn_password(ic->secrets[0], username, password);
	}
	/* the STUN servers in one entry; each TURN server with static
	 * credentials in its own; the minted ones share one entry */
	int entries = 0;
	bool any_stun = false;
	for (int i = 0; i < ic->nservers; i++)
		any_stun = any_stun || !is_turn(&ic->servers[i]);
	if (any_stun) {
		strbuf_printf(&b, "{\"urls\":[");
		put_urls(&b, ic, false);
		strbuf_printf(&b, "]}");
		entries++;
	}
	for (int i = 0; i < ic->nservers; i++) {
		const struct ice_server *s = &ic->servers[i];
		if (is_turn(s) && s->user[0]) {
			strbuf_printf(&b, "%s{\"urls\":[\"%s\"]", entries++ ? "," : "", s->url);
			add_str(&b, "username", s->user, true);
			add_str(&b, "credential", s->pass, true);
			strbuf_printf(&b, "}");
		}
	}
	if (mint) {
		strbuf_printf(&b, "%s{\"urls\":[", entries++ ? "," : "");
		put_urls(&b, ic, true);
		strbuf_printf(&b, "]");
		add_str(&b, "username", username, true);
		add_str(&b, "credential", password, true);
		strbuf_printf(&b, "}");
	}
	strbuf_printf(&b, "],\"iceTransportPolicy\":\"%s\"", ic->relay_only ? "relay" : "all");
	if (mint) {
		add_str(&b, "username", username, true);
		add_str(&b, "password", password, true);
		strbuf_printf(&b, ",\"ttl\":%d,\"uris\":[", ic->ttl_s);
		put_urls(&b, ic, true);
		strbuf_printf(&b, "],\"expiresAt\":%lld", (long long)expiry);
	}
	strbuf_printf(&b, ",\"p2pTimeoutMs\":%d}", ic->p2p_timeout_ms);
	if (expires_at)
		*expires_at = expiry;
	return strbuf_take(&b);
}
