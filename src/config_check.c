/*
 * config_check.c: the checks of a configuration that look beyond one key
 * (config.h): what production mode refuses to start with, and the names in
 * the environment, an env file or the config file that rtftd does not take
 * but an operator may think it does: the variables of an RTFT .env that
 * rtftd has no use for (one table, below), and names that look like a
 * typing error for a key.
 * Owns: the table of variables rtftd does not take, the typo rule, the
 * production rules.
 * Must not: log (everything goes into struct config_diag), or show a
 * secret or a password.
 */
#include "autoconf.h"
#include "config.h"
#include "origin.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

/* ---- variables of an RTFT deployment that rtftd does not take ---- */

#define NO_STORAGE "rtftd stores no files (they go peer to peer or through its relay, never to storage): remove it"
#define NO_API_KEYS "rtftd has no API keys: its REST endpoints are public and rate-limited (RATE_LIMIT_MAX); remove it"

/* One table, in one place: a name (upper case; a trailing '*' matches any
 * suffix) and what to do instead. Names that are keys are never looked up
 * here, so a key added later wins over its entry. */
static const struct unused_var {
	const char *name;
	const char *advice;
} unused_vars[] = {
	{ "SMTP_*", "rtftd sends no mail: remove it" },
	{ "S3_*", NO_STORAGE },
	{ "AWS_ACCESS_KEY_ID", NO_STORAGE },
	{ "AWS_SECRET_ACCESS_KEY", NO_STORAGE },
	{ "AWS_REGION", NO_STORAGE },
	{ "AWS_S3_*", NO_STORAGE },
	{ "AWS_BUCKET*", NO_STORAGE },
	{ "AWS_ENDPOINT*", NO_STORAGE },
	{ "API_KEYS", NO_API_KEYS },
	{ "API_KEYS_*", NO_API_KEYS },
	{ "TURN_API_KEY",
	  "rtftd mints short-lived TURN credentials itself (coturn's use-auth-secret): set TURN_SECRET to coturn's "
	  "static-auth-secret and list the servers in TURN_SERVERS" },
	{ "TURN_STATIC_CREDENTIALS",
	  "static TURN credentials go into TURN_SERVERS as turn:user:password@host:port; better, set TURN_SECRET so that "
	  "each client gets short-lived ones" },
	{ "SESSION_SECRET", "rtftd issues no session cookies or tokens: remove it" },
	{ "DB_MAX_POOL", "each rtftd process opens one database handle: remove it" },
	{ "REDIS_URL",
	  "rtftd needs no Redis: its workers share names through shared memory, and several machines through "
	  "PostgreSQL (DATABASE_URL): remove it" },
};

static bool name_matches(const char *pattern, const char *upname)
{
	size_t n = strlen(pattern);
	if (n > 0 && pattern[n - 1] == '*')
		return strncmp(pattern, upname, n - 1) == 0 && upname[n - 1] != '\0';
	return strcmp(pattern, upname) == 0;
}

static const struct unused_var *find_unused(const char *upname)
{
	for (size_t i = 0; i < RT_ARRAY_LEN(unused_vars); i++)
		if (name_matches(unused_vars[i].name, upname))
			return &unused_vars[i];
	return NULL;
}

/* ---- names that look like a typing error for a key ---- */

/* Optimal string alignment distance (Levenshtein plus the transposition
 * of two neighbours), case-insensitive, of names up to 63 bytes; 99 for
 * longer ones. */
static int distance(const char *a, const char *b)
{
	enum { MAXN = 64 };
	size_t n = strlen(a), m = strlen(b);
	if (n >= MAXN || m >= MAXN)
		return 99;
	int d[MAXN][MAXN];
	for (size_t i = 0; i <= n; i++)
		d[i][0] = (int)i;
	for (size_t j = 0; j <= m; j++)
		d[0][j] = (int)j;
	for (size_t i = 1; i <= n; i++) {
		for (size_t j = 1; j <= m; j++) {
			int cost = toupper((unsigned char)a[i - 1]) != toupper((unsigned char)b[j - 1]);
			int best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < best)
				best = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && toupper((unsigned char)a[i - 1]) == toupper((unsigned char)b[j - 2]) &&
			    toupper((unsigned char)a[i - 2]) == toupper((unsigned char)b[j - 1]) &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[n][m];
}

/* Has the shape of a key: letters of one case (upper in the
 * environment, lower in the file), digits and '_'. */
static bool key_shaped(const char *name, bool upper_case)
{
	if (!*name)
		return false;
	for (const char *p = name; *p; p++) {
		unsigned char c = (unsigned char)*p;
		bool letter = upper_case ? (c >= 'A' && c <= 'Z') : (c >= 'a' && c <= 'z');
		if (!letter && !(c >= '0' && c <= '9') && c != '_')
			return false;
	}
	return true;
}

const char *config_typo_of(const char *name, bool upper_case)
{
	if (!key_shaped(name, upper_case) || config_key_is_known(name))
		return NULL;
	const char *best = NULL;
	int best_d = 99;
	for (int k = 0; k < config_key_count(); k++) {
		const char *key = config_key_name(k);
		/* the same first letter, and one edit for short names, two for
		 * longer ones: LOG_LEVL is log_level, PATH is not PORT nor HOME
		 * HOST (two edits of four letters) */
		if (toupper((unsigned char)key[0]) != toupper((unsigned char)name[0]))
			continue;
		int most = strlen(key) < 8 ? 1 : 2;
		int dist = distance(name, key);
		if (dist <= most && dist < best_d) {
			best = key;
			best_d = dist;
		}
	}
	return best;
}

static char *upper_dup(const char *s)
{
	char *u = xstrdup(s);
	for (char *p = u; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	return u;
}

bool config_lint_name(const char *name, const char *where, bool upper_case, struct config_diag *d)
{
	char *up = upper_dup(name);
	const struct unused_var *u = key_shaped(name, upper_case) ? find_unused(up) : NULL;
	free(up);
	if (u) {
		config_diag_add(d, CONFIG_DIAG_WARNING, "%s: rtftd does not use %s: %s", where, name, u->advice);
		return true;
	}
	const char *typo = config_typo_of(name, upper_case);
	if (!typo)
		return false;
	char *shown = upper_case ? upper_dup(typo) : xstrdup(typo);
	config_diag_add(d, CONFIG_DIAG_WARNING, "%s: %s is not a %s rtftd reads: did you mean %s?", where, name,
			upper_case ? "variable" : "key", shown);
	free(shown);
	return true;
}

void config_lint_environ(struct config_diag *d)
{
	for (char **e = environ; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		if (!eq || eq == *e || (size_t)(eq - *e) > 200)
			continue;
		char *name = xstrndup(*e, (size_t)(eq - *e));
		if (strcmp(name, "RTFT_ENV") != 0) {
			char where[240];
			snprintf(where, sizeof where, "environment %s", name);
			(void)config_lint_name(name, where, true, d);
		}
		free(name);
	}
}

/* ---- production ---- */

/* host (a name or an address, no brackets) is this machine only: a
 * loopback address, "localhost", or a Unix socket directory. */
static bool host_is_local(const char *host)
{
	unsigned char a[16];
	if (host[0] == '/' || host[0] == '@' || str_ieq(host, "localhost"))
		return true;
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, host, a) == 1) {
		static const unsigned char one[16] = { [15] = 1 };
		return memcmp(a, one, 16) == 0;
	}
	return false;
}

static void check_metrics(const struct config *cfg, struct config_diag *d)
{
	const char *s = cfg->metrics_listen;
	if (!s[0])
		return;
	char host[256];
	const char *end = s[0] == '[' ? strchr(s, ']') : strrchr(s, ':');
	const char *from = s[0] == '[' ? s + 1 : s;
	if (!end || (size_t)(end - from) >= sizeof host)
		return; /* already refused as a value */
	snprintf(host, sizeof host, "%.*s", (int)(end - from), from);
	if (!host_is_local(host))
		config_diag_add(d, CONFIG_DIAG_ERROR,
				"production: metrics_listen = \"%s\" serves /metrics beyond loopback: expected "
				"127.0.0.1:PORT or [::1]:PORT (a proxy with access control can publish it), or off",
				cfg->metrics_listen);
}

static void check_turn_secret(const struct config *cfg, struct config_diag *d)
{
	/* one or more comma-separated secrets: each one signs or is accepted */
	const char *p = cfg->turn_secret;
	int i = 0;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		const char *a = p, *b = p + n;
		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		i++;
		if (b - a < 32)
			config_diag_add(
				d, CONFIG_DIAG_ERROR,
				"production: turn_secret: secret %d is %zu bytes: expected at least 32 (make one "
				"with openssl rand -hex 32 and set it in coturn's static-auth-secret too)",
				i, (size_t)(b - a));
		p = comma ? comma + 1 : b;
	}
}

/* Every host of a comma-separated libpq host or hostaddr list is local. */
static bool hosts_local(const char *list, char *first_remote, size_t cap)
{
	char *copy = xstrdup(list);
	bool local = true;
	for (char *save = NULL, *h = strtok_r(copy, ",", &save); h; h = strtok_r(NULL, ",", &save)) {
		h = str_trim(h);
		if (*h && !host_is_local(h)) {
			snprintf(first_remote, cap, "%s", h);
			local = false;
			break;
		}
	}
	free(copy);
	return local;
}

static void check_database(const struct config *cfg, struct config_diag *d)
{
	if (cfg->db_ssl != DB_SSL_DISABLE && cfg->db_ssl != DB_SSL_ALLOW)
		return;
	if (!str_has_prefix(cfg->database_url, "postgres://") && !str_has_prefix(cfg->database_url, "postgresql://"))
		return;
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(cfg->database_url, &perr);
	if (!opts) {
		PQfreemem(perr);
		return; /* libpq says why at the first connection */
	}
	const char *host = NULL, *hostaddr = NULL, *password = NULL;
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val || !*o->val)
			continue;
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "hostaddr") == 0)
			hostaddr = o->val;
		else if (strcmp(o->keyword, "password") == 0)
			password = o->val;
	}
	const char *env_pw = getenv("PGPASSWORD");
	if (!host)
		host = getenv("PGHOST"); /* libpq's default, else the Unix socket */
	char remote[256] = "";
	bool local = hostaddr ? hosts_local(hostaddr, remote, sizeof remote)
			      : !host || hosts_local(host, remote, sizeof remote);
	if ((password || (env_pw && *env_pw)) && !local)
		config_diag_add(d, CONFIG_DIAG_ERROR,
				"production: database_url sends a password to %s without TLS (db_ssl = %s): expected "
				"db_ssl = require or verify-full, or a connection over loopback or a Unix socket",
				remote, config_db_sslmode(cfg->db_ssl));
	PQconninfoFree(opts);
}

/* ---- sign-in: warnings, errors in production ---- */

/* the host of an http:// or https:// URL (no brackets) into host; false
 * when there is none that fits */
static bool url_host(const char *url, char *host, size_t cap)
{
	const char *a = strstr(url, "://");
	if (!a)
		return false;
	a += 3;
	const char *end = a + strcspn(a, "/?#");
	for (const char *at = a; at < end; at++) /* user:password@ */
		if (*at == '@')
			a = at + 1;
	const char *h = a, *e;
	if (*a == '[') {
		h = a + 1;
		e = memchr(h, ']', (size_t)(end - h));
		if (!e)
			return false;
	} else {
		e = memchr(a, ':', (size_t)(end - a));
		if (!e)
			e = end;
	}
	if (e == h || (size_t)(e - h) >= cap)
		return false;
	snprintf(host, cap, "%.*s", (int)(e - h), h);
	return true;
}

void config_check_signin(const struct config *cfg, struct config_diag *d)
{
	enum config_severity sev = cfg->is_production ? CONFIG_DIAG_ERROR : CONFIG_DIAG_WARNING;
	const char *prod = cfg->is_production ? "production: " : "";
	char host[256];
	bool known = cfg->jwks_url[0] && url_host(cfg->jwks_url, host, sizeof host);
	/* the host only: a URL may hold a password (user:password@) */
	if (cfg->jwks_url[0] && str_has_prefix(cfg->jwks_url, "http://") && !(known && host_is_local(host)))
		config_diag_add(d, sev,
				"%sjwks_url fetches the signing keys over plain http from %s, beyond loopback: "
				"anyone on the path can replace them and forge tokens (expected an https:// URL)",
				prod, known ? host : "a host that cannot be read");
	size_t n = strlen(cfg->jwt_secret);
	if (n > 0 && n < 32)
		config_diag_add(d, sev,
				"%sjwt_secret is %zu bytes: expected at least 32 (a short HS256 secret can be guessed "
				"offline from one token, and then tokens forged; make one with openssl rand -hex 32)",
				prod, n);
}

void config_check_production(const struct config *cfg, struct config_diag *d)
{
	if (!cfg->is_production)
		return;
	/* the origins a page may come from: external_url's and cors_origins
	 * (production allows no other by default) */
	if (!cfg->external_url[0] && origin_list_empty(cfg->cors_origins))
		config_diag_add(d, CONFIG_DIAG_ERROR,
				"production: no origins are configured: no web page could open the WebSocket "
				"(expected external_url, whose origin is allowed, and cors_origins for any other)");
	if (origin_list_has_any(cfg->cors_origins))
		config_diag_add(d, CONFIG_DIAG_WARNING,
				"production: cors_origins = *: any web site may use the signaling, the relay and "
				"TURN credentials through its visitors' browsers");
	if (!cfg->external_url[0])
		config_diag_add(d, CONFIG_DIAG_ERROR,
				"production: external_url is not set: expected the https:// URL people open (browsers "
				"allow WebRTC only from https pages)");
	else if (!str_has_prefix(cfg->external_url, "https://"))
		config_diag_add(d, CONFIG_DIAG_ERROR,
				"production: external_url = \"%s\": expected an https:// URL (browsers allow WebRTC "
				"only from https pages)",
				cfg->external_url);
	check_turn_secret(cfg, d);
	check_metrics(cfg, d);
	check_database(cfg, d);
}
