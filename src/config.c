/*
 * config.c: the key table, parsing of every source into a fresh struct
 * config, validation, formatting and diffing for reload.
 * Owns: the one list of keys (name, type, default, limits, apply class).
 * Must not: log while loading (errors and warnings go into struct
 * config_diag; the caller prints them with config_diag_print when it knows
 * where to), touch sockets, or keep global state.
 */
#include "autoconf.h"
#include "config.h"
#include "db.h"
#include "ice.h"
#include "origin.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum ktype {
	KT_STR,
	KT_INT,
	KT_WORKERS,
	KT_LEVEL,
	KT_FORMAT,
	KT_DBSSL,
	KT_DBURL,
	KT_ADDR,
	KT_HTTPURL,
	KT_ENV,
	KT_SECRET,
	KT_BOOL,
	KT_POLICY,
	KT_NETS, /* comma-separated addresses and CIDR ranges */
	KT_ORIGINS, /* comma-separated origins, null or * */
	KT_ADDRLOG, /* an int: CONFIG_AUTO or an enum log_addr_mode */
	KT_AUTOBOOL, /* an int: CONFIG_AUTO, 0 or 1 */
};

struct key {
	const char *name;
	enum ktype type;
	size_t off;
	const char *def;
	long long min, max;
	enum config_apply apply; /* what a reload does with a change */
	const char *expect; /* human text for errors */
};

#define F(field) offsetof(struct config, field)

static const struct key keys[] = {
	{ "host", KT_STR, F(host), "0.0.0.0", 0, 0, CONFIG_GENERATION, "an IP address or host name to listen on" },
	{ "port", KT_INT, F(port), "8080", 1, 65535, CONFIG_GENERATION, "an integer from 1 to 65535" },
	{ "workers", KT_WORKERS, F(workers), "auto", 1, RT_MAX_WORKERS, CONFIG_GENERATION,
	  "\"auto\" or an integer from 1 to 64" },
	{ "log_level", KT_LEVEL, F(log_level), "info", 0, 0, CONFIG_RELOAD, "one of error, warn, info, debug, trace" },
	{ "log_format", KT_FORMAT, F(log_format), "text", 0, 0, CONFIG_RELOAD, "text or json" },
	{ "log_file", KT_STR, F(log_file), "", 0, 0, CONFIG_RELOAD, "a file path, or empty for stderr" },
	{ "request_timeout_ms", KT_INT, F(request_timeout_ms), "30000", 100, 3600000, CONFIG_RELOAD,
	  "an integer from 100 to 3600000 (milliseconds)" },
	{ "max_request_line_bytes", KT_INT, F(max_request_line_bytes), "4096", 64, 4096, CONFIG_RELOAD,
	  "an integer from 64 to 4096" },
	{ "max_header_bytes", KT_INT, F(max_header_bytes), "16384", 1024, 65536, CONFIG_RELOAD,
	  "an integer from 1024 to 65536" },
	{ "max_body_bytes", KT_INT, F(max_body_bytes), "65536", 0, 16777216, CONFIG_RELOAD,
	  "an integer from 0 to 16777216" },
	{ "database_url", KT_DBURL, F(database_url), "sqlite:///var/lib/rtft/rtft.db", 0, 0, CONFIG_RESTART,
	  "sqlite:///path/to/file.db or postgres://user@host/db" },
	{ "db_ssl", KT_DBSSL, F(db_ssl), "prefer", 0, 0, CONFIG_RESTART,
	  "one of disable, allow, prefer, require, verify-ca, verify-full, true, false" },
	{ "metrics_listen", KT_ADDR, F(metrics_listen), "127.0.0.1:9464", 0, 0, CONFIG_RESTART,
	  "host:port (IPv6 as [addr]:port), or off" },
	{ "drain_timeout_ms", KT_INT, F(drain_timeout_ms), "30000", 0, 86400000, CONFIG_RELOAD,
	  "an integer from 0 to 86400000 (milliseconds)" },
	{ "shutdown_timeout_ms", KT_INT, F(shutdown_timeout_ms), "10000", 100, 600000, CONFIG_RELOAD,
	  "an integer from 100 to 600000 (milliseconds)" },
	{ "external_url", KT_HTTPURL, F(external_url), "", 0, 0, CONFIG_RELOAD,
	  "an http:// or https:// URL, or empty" },
	{ "node_env", KT_ENV, F(node_env), "development", 0, 0, CONFIG_RESTART, "development, production or test" },
	{ "max_message_bytes", KT_INT, F(max_message_bytes), "2097152", 1024, 67108864, CONFIG_RELOAD,
	  "an integer from 1024 to 67108864" },
	{ "max_outbound_bytes", KT_INT, F(max_outbound_bytes), "16777216", 65536, 1073741824, CONFIG_RELOAD,
	  "an integer from 65536 to 1073741824" },
	{ "heartbeat_interval_ms", KT_INT, F(heartbeat_interval_ms), "30000", 100, 3600000, CONFIG_RELOAD,
	  "an integer from 100 to 3600000 (milliseconds)" },
	{ "register_timeout_ms", KT_INT, F(register_timeout_ms), "60000", 100, 3600000, CONFIG_RELOAD,
	  "an integer from 100 to 3600000 (milliseconds)" },
	{ "user_list_max", KT_INT, F(user_list_max), "1000", 1, 100000, CONFIG_RELOAD, "an integer from 1 to 100000" },
	{ "store_file_names", KT_BOOL, F(store_file_names), "false", 0, 0, CONFIG_RELOAD, "true or false" },
	{ "www_root", KT_STR, F(www_root), RT_DATADIR "/rtft/www", 0, 0, CONFIG_RELOAD,
	  "the directory holding the web page, or empty to serve none" },
	{ "stun_servers", KT_STR, F(stun_servers), "", 0, 0, CONFIG_RELOAD,
	  "comma-separated stun:host[:port] or stuns:host[:port] URLs" },
	{ "turn_servers", KT_STR, F(turn_servers), "", 0, 0, CONFIG_RELOAD,
	  "comma-separated turn:[user:pass@]host[:port][?transport=udp|tcp] or turns: URLs" },
	{ "ice_transport_policy", KT_POLICY, F(ice_transport_policy), "all", 0, 0, CONFIG_RELOAD, "all or relay" },
	{ "turn_secret", KT_SECRET, F(turn_secret), "", 0, 0, CONFIG_RELOAD,
	  "coturn's static-auth-secret; several comma-separated, the first signs" },
	{ "turn_ttl", KT_INT, F(turn_ttl), "86400", 5, 604800, CONFIG_RELOAD, "an integer from 5 to 604800 (seconds)" },
	{ "p2p_timeout_ms", KT_INT, F(p2p_timeout_ms), "10000", 1000, 600000, CONFIG_RELOAD,
	  "an integer from 1000 to 600000 (milliseconds)" },
	{ "ice_check_interval_ms", KT_INT, F(ice_check_interval_ms), "30000", 0, 86400000, CONFIG_RELOAD,
	  "0 (off), or an integer from 100 to 86400000 (milliseconds)" },
	{ "hsts_max_age", KT_INT, F(hsts_max_age), "31536000", 0, 2147483647, CONFIG_RELOAD,
	  "an integer from 0 to 2147483647 (seconds)" },
	{ "rate_limit_window_ms", KT_INT, F(rate_limit_window_ms), "60000", 100, 86400000, CONFIG_RELOAD,
	  "an integer from 100 to 86400000 (milliseconds)" },
	{ "rate_limit_max", KT_INT, F(rate_limit_max), "30", 1, 1000000, CONFIG_RELOAD,
	  "an integer from 1 to 1000000" },
	{ "trust_proxy", KT_BOOL, F(trust_proxy), "false", 0, 0, CONFIG_RELOAD, "true or false" },
	{ "trusted_proxies", KT_NETS, F(trusted_proxies), "127.0.0.0/8, ::1", 0, 0, CONFIG_RELOAD,
	  "comma-separated IP addresses and CIDR ranges (10.0.0.0/8, fd00::/8)" },
	{ "cors_origins", KT_ORIGINS, F(cors_origins), "", 0, 0, CONFIG_RELOAD,
	  "comma-separated origins (https://app.example.org, chrome-extension://<id>, null), or *" },
	{ "require_origin", KT_BOOL, F(require_origin), "false", 0, 0, CONFIG_RELOAD, "true or false" },
	{ "hsts_include_subdomains", KT_BOOL, F(hsts_include_subdomains), "false", 0, 0, CONFIG_RELOAD,
	  "true or false" },
	{ "hsts_preload", KT_BOOL, F(hsts_preload), "false", 0, 0, CONFIG_RELOAD, "true or false" },
	{ "https_redirect", KT_AUTOBOOL, F(https_redirect), "auto", 0, 0, CONFIG_RELOAD,
	  "auto (on in production), true or false" },
	{ "log_client_address", KT_ADDRLOG, F(log_client_address), "auto", 0, 0, CONFIG_RELOAD,
	  "auto, full, truncated or hashed" },
	{ "log_user_names", KT_AUTOBOOL, F(log_user_names), "auto", 0, 0, CONFIG_RELOAD, "auto, true or false" },
	{ "retention_days", KT_INT, F(retention_days), "30", 0, 36500, CONFIG_RELOAD,
	  "0 (keep forever), or an integer from 1 to 36500 (days)" },
	{ "jwt_secret", KT_SECRET, F(jwt_secret), "", 0, 0, CONFIG_RELOAD,
	  "the HS256 shared secret of sign-in tokens, or empty" },
	{ "jwks_url", KT_HTTPURL, F(jwks_url), "", 0, 0, CONFIG_RELOAD,
	  "the http:// or https:// URL of a JSON Web Key Set, or empty" },
	{ "jwt_issuer", KT_STR, F(jwt_issuer), "", 0, 0, CONFIG_RELOAD, "the required \"iss\" of tokens, or empty" },
	{ "jwt_audience", KT_STR, F(jwt_audience), "", 0, 0, CONFIG_RELOAD,
	  "a value the tokens' \"aud\" must hold, or empty" },
	{ "jwt_name_claim", KT_STR, F(jwt_name_claim), "", 0, 0, CONFIG_RELOAD,
	  "the claim holding the only user name a token allows, or empty" },
};

#define NKEYS ((int)RT_ARRAY_LEN(keys))
_Static_assert(RT_ARRAY_LEN(keys) <= CONFIG_MAX_KEYS, "raise CONFIG_MAX_KEYS");

/* Keys that earlier versions took but never used. A file or command line
 * that still sets one gets a warning, not the command line's unknown-key
 * error, so that an upgrade never stops the daemon from starting. The
 * environment ignores them like any variable that is not ours. */
static const struct retired_key {
	const char *name;
	const char *why;
} retired[] = {
	{ "db_max_pool", "each process opens one database handle" },
	{ "session_secret", "rtftd issues no tokens" },
};

static const char *dbssl_names[] = { "disable", "allow", "prefer", "require", "verify-ca", "verify-full" };
static const char *env_names[] = { "development", "production", "test" };
static const char *policy_names[] = { "all", "relay" };
/* indexed by enum log_addr_mode */
static const char *addrlog_names[] = { "full", "truncated", "hashed" };

const char *config_db_sslmode(enum db_ssl_mode m)
{
	return (unsigned)m < RT_ARRAY_LEN(dbssl_names) ? dbssl_names[m] : "prefer";
}

int config_key_count(void)
{
	return NKEYS;
}

const char *config_key_name(int i)
{
	return i >= 0 && i < NKEYS ? keys[i].name : NULL;
}

enum config_apply config_key_apply(int i)
{
	return i >= 0 && i < NKEYS ? keys[i].apply : CONFIG_RESTART;
}

const char *config_apply_name(enum config_apply a)
{
	switch (a) {
	case CONFIG_RELOAD:
		return "reload";
	case CONFIG_GENERATION:
		return "generation";
	case CONFIG_RESTART:
		break;
	}
	return "restart";
}

static int find_key(const char *name)
{
	for (int i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return i;
	return -1;
}

static int find_key_ci(const char *name)
{
	for (int i = 0; i < NKEYS; i++)
		if (str_ieq(keys[i].name, name))
			return i;
	return -1;
}

static const struct retired_key *find_retired(const char *name)
{
	for (size_t i = 0; i < RT_ARRAY_LEN(retired); i++)
		if (str_ieq(retired[i].name, name))
			return &retired[i];
	return NULL;
}

bool config_key_is_known(const char *name)
{
	return find_key_ci(name) >= 0 || find_retired(name);
}

void config_diag_add(struct config_diag *d, enum config_severity sev, const char *fmt, ...)
{
	if (!d)
		return;
	va_list ap;
	va_start(ap, fmt);
	char buf[1024];
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	d->lines = xrealloc(d->lines, sizeof *d->lines * (size_t)(d->nlines + 1));
	d->lines[d->nlines++] = (struct config_diag_line){ .severity = sev, .text = xstrdup(buf) };
	if (sev == CONFIG_DIAG_ERROR)
		d->nerrors++;
}

void config_diag_fini(struct config_diag *d)
{
	for (int i = 0; i < d->nlines; i++)
		free(d->lines[i].text);
	free(d->lines);
	d->lines = NULL;
	d->nlines = d->nerrors = 0;
}

void config_diag_print(const struct config_diag *d, bool to_log)
{
	for (int i = 0; i < d->nlines; i++) {
		const struct config_diag_line *l = &d->lines[i];
		bool is_error = l->severity == CONFIG_DIAG_ERROR;
		if (!to_log)
			fprintf(stderr, "rtftd: %s: %s\n", is_error ? "error" : "warning", l->text);
		else if (is_error)
			log_error("config %s", l->text);
		else
			log_warn("config %s", l->text);
	}
}

/* host:port with an optional [v6] host. Fills host (caller frees) and port. */
static int parse_addr(const char *s, char **host, int *port)
{
	const char *colon;
	char *h;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return RT_ERR;
		h = xstrndup(s + 1, (size_t)(close - s - 1));
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || colon == s)
			return RT_ERR;
		h = xstrndup(s, (size_t)(colon - s));
		if (strchr(h, ':')) {
			free(h);
			return RT_ERR;
		}
	}
	long long p;
	if (str_to_ll(colon + 1, &p) != RT_OK || p < 1 || p > 65535) {
		free(h);
		return RT_ERR;
	}
	*host = h;
	*port = (int)p;
	return RT_OK;
}

static int default_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > RT_MAX_WORKERS)
		n = RT_MAX_WORKERS;
	return (int)n;
}

static int enum_index(const char *v, const char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (str_ieq(v, names[i]))
			return (int)i;
	return -1;
}

static int parse_bool(const char *val, bool *out)
{
	if (str_ieq(val, "true") || str_ieq(val, "yes") || str_ieq(val, "on") || strcmp(val, "1") == 0) {
		*out = true;
		return RT_OK;
	}
	if (str_ieq(val, "false") || str_ieq(val, "no") || str_ieq(val, "off") || strcmp(val, "0") == 0) {
		*out = false;
		return RT_OK;
	}
	return RT_ERR;
}

/* Parse val (trimmed; may be edited) as key's type into field. RT_OK, or
 * RT_ERR with detail (cap bytes) saying more when there is more to say. */
static int store_value(const struct key *key, char *field, char *val, char *detail, size_t cap)
{
	int rc = RT_ERR;
	long long n;
	int idx;
	switch (key->type) {
	case KT_STR:
		if (strcmp(key->name, "host") == 0 && !*val)
			break;
		str_replace((char **)field, val);
		rc = RT_OK;
		break;
	case KT_SECRET:
		str_replace((char **)field, val);
		rc = RT_OK;
		break;
	case KT_INT:
		if (str_to_ll(val, &n) == RT_OK && n >= key->min && n <= key->max) {
			*(int *)field = (int)n;
			rc = RT_OK;
		}
		break;
	case KT_WORKERS:
		if (str_ieq(val, "auto") || !*val) {
			*(int *)field = default_workers();
			rc = RT_OK;
		} else if (str_to_ll(val, &n) == RT_OK && n >= key->min && n <= key->max) {
			*(int *)field = (int)n;
			rc = RT_OK;
		}
		break;
	case KT_LEVEL:
		rc = log_level_parse(val, (enum log_level *)field);
		break;
	case KT_FORMAT:
		rc = log_format_parse(val, (enum log_format *)field);
		break;
	case KT_DBSSL:
		if (str_ieq(val, "true") || str_ieq(val, "1") || str_ieq(val, "yes")) {
			*(enum db_ssl_mode *)field = DB_SSL_REQUIRE;
			rc = RT_OK;
		} else if (str_ieq(val, "false") || str_ieq(val, "0") || str_ieq(val, "no")) {
			*(enum db_ssl_mode *)field = DB_SSL_DISABLE;
			rc = RT_OK;
		} else if ((idx = enum_index(val, dbssl_names, RT_ARRAY_LEN(dbssl_names))) >= 0) {
			*(enum db_ssl_mode *)field = (enum db_ssl_mode)idx;
			rc = RT_OK;
		}
		break;
	case KT_DBURL: {
		const char *path = db_url_sqlite_path(val);
		if ((path && *path) || db_url_is_postgres(val)) {
			str_replace((char **)field, val);
			rc = RT_OK;
		}
		break;
	}
	case KT_ADDR: {
		char *h = NULL;
		int p;
		if (!*val || str_ieq(val, "off")) {
			str_replace((char **)field, "");
			rc = RT_OK;
		} else if (parse_addr(val, &h, &p) == RT_OK) {
			str_replace((char **)field, val);
			free(h);
			rc = RT_OK;
		}
		break;
	}
	case KT_HTTPURL:
		if (!*val || ((str_has_prefix(val, "http://") || str_has_prefix(val, "https://")) &&
			      !strchr(val, ' ') && strlen(val) > strlen("https://"))) {
			/* keep it without a trailing slash so paths can be appended */
			size_t len = strlen(val);
			while (len > 0 && val[len - 1] == '/')
				val[--len] = '\0';
			str_replace((char **)field, val);
			rc = RT_OK;
		}
		break;
	case KT_BOOL:
		rc = parse_bool(val, (bool *)field);
		break;
	case KT_ENV:
		if ((idx = enum_index(val, env_names, RT_ARRAY_LEN(env_names))) >= 0) {
			str_replace((char **)field, env_names[idx]);
			rc = RT_OK;
		}
		break;
	case KT_POLICY:
		if ((idx = enum_index(val, policy_names, RT_ARRAY_LEN(policy_names))) >= 0) {
			str_replace((char **)field, policy_names[idx]);
			rc = RT_OK;
		}
		break;
	case KT_NETS: {
		struct rt_netlist nl;
		struct rt_err e;
		if (rt_netlist_parse(val, &nl, &e) == RT_OK) {
			rt_netlist_free(&nl);
			str_replace((char **)field, val);
			rc = RT_OK;
		} else {
			snprintf(detail, cap, " (%s)", e.msg);
		}
		break;
	}
	case KT_ORIGINS: {
		struct rt_err e;
		if (origin_list_check(val, &e) == RT_OK) {
			str_replace((char **)field, val);
			rc = RT_OK;
		} else {
			snprintf(detail, cap, " (%s)", e.msg);
		}
		break;
	}
	case KT_ADDRLOG:
		if (str_ieq(val, "auto")) {
			*(int *)field = CONFIG_AUTO;
			rc = RT_OK;
		} else if ((idx = enum_index(val, addrlog_names, RT_ARRAY_LEN(addrlog_names))) >= 0) {
			*(int *)field = idx;
			rc = RT_OK;
		}
		break;
	case KT_AUTOBOOL: {
		bool b;
		if (str_ieq(val, "auto")) {
			*(int *)field = CONFIG_AUTO;
			rc = RT_OK;
		} else if ((rc = parse_bool(val, &b)) == RT_OK) {
			*(int *)field = b;
		}
		break;
	}
	}
	return rc;
}

/* Set one key from text. Returns RT_OK, or RT_ERR with diag filled. */
static int set_value(struct config *cfg, int k, const char *raw, const char *where, struct config_diag *d)
{
	const struct key *key = &keys[k];
	char *val = str_trim(xstrdup(raw));
	char detail[600] = "";
	/* a URL may carry a password: never echo it, even when it is invalid */
	char *redacted = key->type == KT_DBURL || key->type == KT_HTTPURL ? db_url_redact(val) : NULL;
	const char *shown = key->type == KT_SECRET ? "(redacted)" : redacted ? redacted : val;
	int rc = store_value(key, (char *)cfg + key->off, val, detail, sizeof detail);
	if (rc == RT_OK) {
		free(cfg->source[k]);
		cfg->source[k] = xstrdup(where);
	} else {
		config_diag_add(d, CONFIG_DIAG_ERROR, "%s: %s = \"%s\": expected %s%s", where, key->name, shown,
				key->expect, detail);
	}
	free(redacted);
	free(val);
	return rc;
}

static struct config *config_new_defaults(void)
{
	struct config *cfg = xcalloc(1, sizeof *cfg);
	for (int k = 0; k < NKEYS; k++) {
		if (set_value(cfg, k, keys[k].def, "default", NULL) != RT_OK)
			abort(); /* a bad built-in default is a programming error */
	}
	return cfg;
}

/* Unquote "value" or 'value' (a trailing " # comment" may follow the closing
 * quote); strips an unquoted trailing " # comment". */
static char *unquote(char *v)
{
	str_trim(v);
	if (v[0] == '"' || v[0] == '\'') {
		char *close = strrchr(v + 1, v[0]);
		if (close) {
			char *rest = close + 1;
			while (*rest == ' ' || *rest == '\t')
				rest++;
			if (*rest == '\0' || *rest == '#') {
				*close = '\0';
				return v + 1;
			}
		}
	}
	char *hash = strstr(v, " #");
	if (hash)
		*hash = '\0';
	return str_trim(v);
}

static int read_file(const char *path, char **out, struct rt_err *err)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		rt_err_set(err, "%s", strerror(errno));
		return RT_ERR;
	}
	size_t cap = 4096, len = 0;
	char *buf = xmalloc(cap);
	size_t n;
	while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 2) {
			if (cap > 4 * 1024 * 1024) {
				fclose(f);
				free(buf);
				rt_err_set(err, "file is larger than 4 MiB");
				return RT_ERR;
			}
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
	}
	bool failed = ferror(f);
	fclose(f);
	if (failed) {
		free(buf);
		rt_err_set(err, "read error");
		return RT_ERR;
	}
	buf[len] = '\0';
	*out = buf;
	return RT_OK;
}

/* The config file: "key = value" lines. */
static void load_file_text(struct config *cfg, const char *name, char *text, struct config_diag *d)
{
	int lineno = 0;
	char *next = text;
	while (next && *next) {
		char *line = next;
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		next = nl ? nl + 1 : NULL;
		lineno++;
		char *s = str_trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		char *eq = strchr(s, '=');
		char where[600];
		snprintf(where, sizeof where, "%s:%d", name, lineno);
		if (!eq) {
			config_diag_add(d, CONFIG_DIAG_ERROR, "%s: expected \"key = value\", got \"%.60s\"", where, s);
			continue;
		}
		*eq = '\0';
		char *k = str_trim(s);
		char *v = unquote(eq + 1);
		int idx = find_key(k);
		const struct retired_key *old = idx < 0 ? find_retired(k) : NULL;
		if (old) {
			config_diag_add(d, CONFIG_DIAG_WARNING, "%s: key \"%s\" is no longer used (%s): remove it",
					where, k, old->why);
			continue;
		}
		if (idx < 0) {
			int ci = find_key_ci(k);
			if (ci >= 0)
				config_diag_add(d, CONFIG_DIAG_WARNING,
						"%s: unknown key \"%s\" (keys are lower case in the file: %s)", where,
						k, keys[ci].name);
			else if (!config_lint_name(k, where, false, d))
				config_diag_add(d, CONFIG_DIAG_WARNING, "%s: unknown key \"%s\" ignored", where, k);
			continue;
		}
		(void)set_value(cfg, idx, v, where, d);
	}
}

static char *upper(const char *s)
{
	char *u = xstrdup(s);
	for (char *p = u; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	return u;
}

/* A .env file: KEY=VALUE lines, "export " allowed, quotes stripped. Only
 * our keys are taken; values already in the real environment win. */
static void load_env_file(struct config *cfg, const char *path, char *text, bool use_environ, struct config_diag *d)
{
	int lineno = 0;
	char *p = text;
	while (p && *p) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		lineno++;
		char *s = str_trim(p);
		p = nl ? nl + 1 : NULL;
		if (!*s || *s == '#')
			continue;
		if (str_has_prefix(s, "export "))
			s = str_trim(s + 7);
		char *eq = strchr(s, '=');
		if (!eq) {
			config_diag_add(d, CONFIG_DIAG_WARNING, "%s:%d: not a KEY=VALUE line, ignored", path, lineno);
			continue;
		}
		*eq = '\0';
		char *k = str_trim(s);
		char *v = unquote(eq + 1);
		if (use_environ && getenv(k))
			continue; /* the environment's value wins, and is looked at there */
		bool ours = strcmp(k, "RTFT_ENV") == 0;
		for (int i = 0; i < NKEYS; i++) {
			char *u = upper(keys[i].name);
			bool match = strcmp(u, k) == 0 ||
				     (strcmp(keys[i].name, "node_env") == 0 && strcmp(k, "RTFT_ENV") == 0) ||
				     (strcmp(keys[i].name, "trust_proxy") == 0 && strcmp(k, "BEHIND_PROXY") == 0 &&
				      !(cfg->source[i] && strstr(cfg->source[i], "(TRUST_PROXY)")));
			free(u);
			if (match) {
				char where[600];
				snprintf(where, sizeof where, "%s:%d (%s)", path, lineno, k);
				(void)set_value(cfg, i, v, where, d);
				ours = true;
			}
		}
		if (!ours) {
			char where[600];
			snprintf(where, sizeof where, "%s:%d", path, lineno);
			(void)config_lint_name(k, where, true, d);
		}
	}
}

static void load_environ(struct config *cfg, struct config_diag *d)
{
	/* BEHIND_PROXY: another name for TRUST_PROXY, which wins if both are set */
	const char *behind = getenv("BEHIND_PROXY");
	if (behind)
		(void)set_value(cfg, find_key("trust_proxy"), behind, "environment BEHIND_PROXY", d);
	for (int i = 0; i < NKEYS; i++) {
		char *u = upper(keys[i].name);
		const char *v = getenv(u);
		if (v) {
			char where[64];
			snprintf(where, sizeof where, "environment %s", u);
			(void)set_value(cfg, i, v, where, d);
		}
		free(u);
	}
	const char *rtenv = getenv("RTFT_ENV");
	if (rtenv)
		(void)set_value(cfg, find_key("node_env"), rtenv, "environment RTFT_ENV", d);
	config_lint_environ(d);
}

/* the fields computed from keys */
static void derive(struct config *cfg)
{
	cfg->is_production = strcmp(cfg->node_env, "production") == 0;
	cfg->https_redirect_on = cfg->https_redirect < 0 ? cfg->is_production : cfg->https_redirect > 0;
	rt_netlist_free(&cfg->trusted);
	struct rt_err err;
	if (rt_netlist_parse(cfg->trusted_proxies, &cfg->trusted, &err) != RT_OK)
		cfg->trusted.n = 0; /* cannot happen: set_value checked it */
	if (cfg->log_client_address != CONFIG_AUTO)
		cfg->log_addr = (enum log_addr_mode)cfg->log_client_address;
	else
		cfg->log_addr = cfg->is_production ? LOG_ADDR_TRUNCATED : LOG_ADDR_FULL;
	cfg->log_names = cfg->log_user_names != CONFIG_AUTO ? cfg->log_user_names != 0 : !cfg->is_production;
}

static void validate(struct config *cfg, struct config_diag *d)
{
	derive(cfg);
	if (cfg->metrics_listen[0]) {
		char *h = NULL;
		int p = 0;
		if (parse_addr(cfg->metrics_listen, &h, &p) == RT_OK) {
			if (p == cfg->port && (strcmp(h, cfg->host) == 0 || strcmp(cfg->host, "0.0.0.0") == 0 ||
					       strcmp(cfg->host, "::") == 0))
				config_diag_add(d, CONFIG_DIAG_ERROR,
						"metrics_listen = \"%s\": expected a port other than the main port %d",
						cfg->metrics_listen, cfg->port);
			free(h);
		}
	}
	if (cfg->ice_check_interval_ms > 0 && cfg->ice_check_interval_ms < 100)
		config_diag_add(d, CONFIG_DIAG_ERROR, "ice_check_interval_ms = \"%d\": expected %s",
				cfg->ice_check_interval_ms, keys[find_key("ice_check_interval_ms")].expect);
	struct ice_config ic;
	struct rt_err ierr;
	if (ice_config_init(&ic, cfg->stun_servers, cfg->turn_servers, cfg->ice_transport_policy, cfg->turn_secret,
			    cfg->turn_ttl, cfg->p2p_timeout_ms, &ierr) != RT_OK)
		config_diag_add(d, CONFIG_DIAG_ERROR, "%s", ierr.msg);
	else
		ice_config_fini(&ic);
	int tp = find_key("trusted_proxies");
	if (!cfg->trust_proxy && cfg->source[tp] && strcmp(cfg->source[tp], "default") != 0)
		config_diag_add(d, CONFIG_DIAG_WARNING,
				"%s: trusted_proxies is set but trust_proxy is off: X-Forwarded-For and Forwarded are "
				"ignored",
				cfg->source[tp]);
	if (cfg->trust_proxy && cfg->trusted.n == 0)
		config_diag_add(
			d, CONFIG_DIAG_WARNING,
			"trust_proxy is on but trusted_proxies is empty: no peer is trusted, forwarding headers are "
			"ignored");
	config_check_signin(cfg, d);
	config_check_production(cfg, d);
}

struct config *config_load(const struct config_src *src, struct config_diag *d)
{
	struct config *cfg = config_new_defaults();
	struct rt_err err;

	const char *file = src->file ? src->file : CONFIG_DEFAULT_FILE;
	if (src->file_explicit || access(file, F_OK) == 0) {
		char *text = NULL;
		if (read_file(file, &text, &err) != RT_OK) {
			config_diag_add(d, CONFIG_DIAG_ERROR, "cannot read config file %s: %s", file, err.msg);
		} else {
			load_file_text(cfg, file, text, d);
			free(text);
			cfg->config_file = xstrdup(file);
		}
	}
	if (src->env_file) {
		char *text = NULL;
		if (read_file(src->env_file, &text, &err) != RT_OK) {
			config_diag_add(d, CONFIG_DIAG_ERROR, "cannot read env file %s: %s", src->env_file, err.msg);
		} else {
			load_env_file(cfg, src->env_file, text, src->use_environ, d);
			free(text);
		}
	}
	if (src->use_environ)
		load_environ(cfg, d);
	for (int i = 0; i < src->noverrides; i++) {
		const char *o = src->overrides[i];
		const char *eq = strchr(o, '=');
		char *k = eq ? xstrndup(o, (size_t)(eq - o)) : xstrdup(o);
		for (char *q = k; *q; q++)
			if (*q == '-')
				*q = '_';
		int idx = find_key_ci(k);
		const struct retired_key *old = find_retired(k);
		if (eq && old)
			config_diag_add(d, CONFIG_DIAG_WARNING,
					"command line: key \"%s\" is no longer used (%s): remove it", old->name,
					old->why);
		else if (!eq || idx < 0)
			config_diag_add(d, CONFIG_DIAG_ERROR,
					"command line: \"%s\": expected key=value with a known key", o);
		else
			(void)set_value(cfg, idx, eq + 1, "command line", d);
		free(k);
	}
	validate(cfg, d);
	if (d->nerrors > 0) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

/* the field is a char * the config owns */
static bool is_string(enum ktype t)
{
	return t == KT_STR || t == KT_SECRET || t == KT_DBURL || t == KT_ADDR || t == KT_HTTPURL || t == KT_ENV ||
	       t == KT_POLICY || t == KT_NETS || t == KT_ORIGINS;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (int k = 0; k < NKEYS; k++) {
		if (is_string(keys[k].type)) {
			char **f = (char **)((char *)cfg + keys[k].off);
			if (keys[k].type == KT_SECRET && *f)
				memset(*f, 0, strlen(*f));
			free(*f);
		}
		free(cfg->source[k]);
	}
	rt_netlist_free(&cfg->trusted);
	free(cfg->config_file);
	free(cfg);
}

static char *value_text(const struct config *cfg, int k, bool redact)
{
	const struct key *key = &keys[k];
	const char *field = (const char *)cfg + key->off;
	switch (key->type) {
	case KT_INT:
	case KT_WORKERS:
		return xasprintf("%d", *(const int *)field);
	case KT_LEVEL:
		return xstrdup(log_level_name(*(const enum log_level *)field));
	case KT_FORMAT:
		return xstrdup(*(const enum log_format *)field == LOG_FMT_JSON ? "json" : "text");
	case KT_DBSSL:
		return xstrdup(dbssl_names[*(const enum db_ssl_mode *)field]);
	case KT_SECRET:
		if (redact)
			return xstrdup(**(char *const *)field ? "(redacted)" : "");
		return xstrdup(*(char *const *)field);
	case KT_DBURL:
	case KT_HTTPURL: /* jwks_url and external_url may hold user:password@ too */
		if (redact)
			return db_url_redact(*(char *const *)field);
		return xstrdup(*(char *const *)field);
	case KT_ADDR:
		return xstrdup(**(char *const *)field ? *(char *const *)field : "off");
	case KT_BOOL:
		return xstrdup(*(const bool *)field ? "true" : "false");
	case KT_ADDRLOG: {
		int v = *(const int *)field;
		return xstrdup(v == CONFIG_AUTO ? "auto" : addrlog_names[v]);
	}
	case KT_AUTOBOOL: {
		int v = *(const int *)field;
		return xstrdup(v == CONFIG_AUTO ? "auto" : v ? "true" : "false");
	}
	case KT_STR:
		if (redact && strcmp(key->name, "turn_servers") == 0)
			return ice_redact_list(*(char *const *)field);
		return xstrdup(*(char *const *)field);
	default:
		return xstrdup(*(char *const *)field);
	}
}

/* the -t -p comment after the source, per apply class */
static const char *const apply_note[] = {
	[CONFIG_RESTART] = ", needs a restart",
	[CONFIG_RELOAD] = "",
	[CONFIG_GENERATION] = ", reload starts new workers",
};

char *config_format(const struct config *cfg, bool redact, bool annotate)
{
	size_t cap = 4096, len = 0;
	char *out = xmalloc(cap);
	out[0] = '\0';
	for (int k = 0; k < NKEYS; k++) {
		char *v = value_text(cfg, k, redact);
		char *line;
		if (annotate)
			line = xasprintf("%s = \"%s\"  # %s%s\n", keys[k].name, v,
					 cfg->source[k] ? cfg->source[k] : "default", apply_note[keys[k].apply]);
		else
			line = xasprintf("%s = \"%s\"\n", keys[k].name, v);
		size_t n = strlen(line);
		while (len + n + 1 > cap) {
			cap *= 2;
			out = xrealloc(out, cap);
		}
		memcpy(out + len, line, n + 1);
		len += n;
		free(line);
		free(v);
	}
	return out;
}

struct config *config_parse_text(const char *text, struct rt_err *err)
{
	struct config *cfg = config_new_defaults();
	struct config_diag d = { 0 };
	char *copy = xstrdup(text);
	load_file_text(cfg, "(reload)", copy, &d);
	free(copy);
	validate(cfg, &d);
	if (d.nerrors) {
		for (int i = 0; i < d.nlines; i++)
			if (d.lines[i].severity == CONFIG_DIAG_ERROR) {
				rt_err_set(err, "%s", d.lines[i].text);
				break;
			}
		config_diag_fini(&d);
		config_free(cfg);
		return NULL;
	}
	config_diag_fini(&d);
	return cfg;
}

void config_diff(const struct config *old, const struct config *nw, struct config_change *out)
{
	memset(out, 0, sizeof *out);
	for (int k = 0; k < NKEYS; k++) {
		char *a = value_text(old, k, false);
		char *b = value_text(nw, k, false);
		if (strcmp(a, b) != 0) {
			out->any = true;
			if (keys[k].apply == CONFIG_GENERATION)
				out->new_generation = true;
		}
		free(a);
		free(b);
	}
}

/* Copies key k's value and source from src into dst. */
static void copy_key(struct config *dst, const struct config *src, int k)
{
	const struct key *key = &keys[k];
	char *to = (char *)dst + key->off;
	const char *from = (const char *)src + key->off;
	switch (key->type) {
	case KT_INT:
	case KT_WORKERS:
	case KT_ADDRLOG:
	case KT_AUTOBOOL:
		*(int *)to = *(const int *)from;
		break;
	case KT_LEVEL:
		*(enum log_level *)to = *(const enum log_level *)from;
		break;
	case KT_FORMAT:
		*(enum log_format *)to = *(const enum log_format *)from;
		break;
	case KT_DBSSL:
		*(enum db_ssl_mode *)to = *(const enum db_ssl_mode *)from;
		break;
	case KT_BOOL:
		*(bool *)to = *(const bool *)from;
		break;
	default:
		rt_assert(is_string(key->type));
		if (key->type == KT_SECRET && *(char **)to)
			memset(*(char **)to, 0, strlen(*(char **)to));
		str_replace((char **)to, *(char *const *)from);
		break;
	}
	str_replace(&dst->source[k], src->source[k]);
}

int config_keep_start_only(const struct config *running, struct config *loaded, char *changed, size_t cap)
{
	int n = 0;
	size_t pos = 0;
	if (cap)
		changed[0] = '\0';
	for (int k = 0; k < NKEYS; k++) {
		if (keys[k].apply != CONFIG_RESTART)
			continue;
		char *a = value_text(running, k, false);
		char *b = value_text(loaded, k, false);
		if (strcmp(a, b) != 0) {
			n++;
			const char *sep = pos ? ", " : "";
			int w = pos < cap ? snprintf(changed + pos, cap - pos, "%s%s", sep, keys[k].name) : 0;
			pos = w > 0 && (size_t)w < cap - pos ? pos + (size_t)w : cap; /* truncated: stop there */
		}
		free(a);
		free(b);
		copy_key(loaded, running, k);
	}
	derive(loaded);
	return n;
}
