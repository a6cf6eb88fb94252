/*
 * jwks.c: the key set fetcher thread. It owns the curl handle and the
 * schedule; the event loop reads J.keys under J.mu (a pointer copy and a
 * reference count) and nothing else. Fetch failures keep the previous key
 * set: an identity provider that is briefly down does not lock users out.
 */
#include "autoconf.h"
#include "jwks.h"
#include "log.h"
#include "util.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool running, stop, want;
	char *url; /* "" while none is configured */
	unsigned gen; /* moves when the URL changes */
	struct jwt_keyset *keys;
	unsigned fetches;
} J = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

struct body {
	char *p;
	size_t len;
	bool over;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t add = size * n;
	if (b->len + add > JWKS_MAX_BYTES) {
		b->over = true;
		return 0; /* curl stops with CURLE_WRITE_ERROR */
	}
	b->p = xrealloc(b->p, b->len + add + 1);
	memcpy(b->p + b->len, p, add);
	b->len += add;
	b->p[b->len] = 0;
	return add;
}

/* one fetch: a new key set, or NULL with why */
static struct jwt_keyset *fetch(CURL *h, const char *url, struct rt_err *err)
{
	struct body b = { 0 };
	char ebuf[CURL_ERROR_SIZE] = "";
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)JWKS_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE, (long)JWKS_MAX_BYTES);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "rtftd/" PACKAGE_VERSION);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	CURLcode rc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	struct jwt_keyset *ks = NULL;
	int skipped = 0;
	if (b.over)
		rt_err_set(err, "answer is over %d bytes", JWKS_MAX_BYTES);
	else if (rc != CURLE_OK)
		rt_err_set(err, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
	else if (status != 200)
		rt_err_set(err, "HTTP status %ld", status);
	else if ((ks = jwt_keyset_parse(b.p ? b.p : "", b.len, &skipped, err)) && skipped)
		log_warn("jwks_url: %d key(s) of an unsupported type, curve or size skipped", skipped);
	free(b.p);
	return ks;
}

/* with J.mu held; an early refresh cuts the wait short only when woken */
static void wait_until(time_t at, bool woken)
{
	struct timespec ts = { at, 0 };
	while (!J.stop && !(woken && J.want) && time(NULL) < at)
		if (pthread_cond_timedwait(&J.cv, &J.mu, &ts) == ETIMEDOUT)
			break;
}

static void *run(void *arg)
{
	CURL *h = curl_easy_init();
	int backoff = 1;
	time_t last = 0;
	pthread_mutex_lock(&J.mu);
	unsigned seen = J.gen;
	while (!J.stop) {
		if (!*J.url) { /* turned off by a reload: idle until turned on */
			pthread_cond_wait(&J.cv, &J.mu);
			continue;
		}
		/* an early refresh waits for the gap since the last fetch of
		 * the same URL */
		if (last && seen == J.gen && time(NULL) < last + JWKS_MIN_GAP_S) {
			J.want = false;
			wait_until(last + JWKS_MIN_GAP_S, false);
			if (J.stop)
				break;
		}
		J.want = false;
		if (seen != J.gen)
			backoff = 1;
		seen = J.gen;
		char *url = xstrdup(J.url);
		pthread_mutex_unlock(&J.mu);

		struct rt_err err = { "" };
		struct jwt_keyset *ks = h ? fetch(h, url, &err) : NULL;
		if (!h)
			rt_err_set(&err, "curl_easy_init failed");
		last = time(NULL);
		free(url);
		time_t next;
		if (ks) {
			log_info("jwks_url: %d signing key(s) loaded", jwt_keyset_count(ks));
			backoff = 1;
			next = last + JWKS_REFRESH_S;
		} else {
			log_warn("jwks_url: fetch failed: %s (retry in %d s)", err.msg, backoff);
			next = last + backoff;
			backoff = backoff * 2 > JWKS_RETRY_MAX_S ? JWKS_RETRY_MAX_S : backoff * 2;
		}

		pthread_mutex_lock(&J.mu);
		J.fetches++;
		struct jwt_keyset *old = NULL;
		if (ks && seen != J.gen) { /* fetched from a URL no longer configured */
			old = ks;
			next = 0;
		} else if (ks) {
			old = J.keys;
			J.keys = ks;
		}
		pthread_mutex_unlock(&J.mu);
		jwt_keyset_unref(old); /* outside the lock: freeing keys takes time */
		pthread_mutex_lock(&J.mu);
		wait_until(next, true);
	}
	pthread_mutex_unlock(&J.mu);
	if (h)
		curl_easy_cleanup(h);
	return NULL;
}

int jwks_configure(const char *url, struct rt_err *err)
{
	if (J.running) {
		pthread_mutex_lock(&J.mu);
		struct jwt_keyset *old = NULL;
		if (strcmp(J.url, url) != 0) {
			str_replace(&J.url, url);
			J.gen++;
			old = J.keys; /* keys of another issuer are not kept */
			J.keys = NULL;
			J.want = true;
			pthread_cond_signal(&J.cv);
		}
		pthread_mutex_unlock(&J.mu);
		jwt_keyset_unref(old);
		return RT_OK;
	}
	if (!*url)
		return RT_OK;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		rt_err_set(err, "curl_global_init failed");
		return RT_ERR;
	}
	J.url = xstrdup(url);
	J.stop = J.want = false;
	if (pthread_create(&J.thread, NULL, run, NULL) != 0) {
		rt_err_set(err, "cannot start the key set fetcher: %s", strerror(errno));
		return RT_ERR;
	}
	J.running = true;
	return RT_OK;
}

void jwks_stop(void)
{
	if (!J.running)
		return;
	pthread_mutex_lock(&J.mu);
	J.stop = true;
	pthread_cond_signal(&J.cv);
	pthread_mutex_unlock(&J.mu);
	pthread_join(J.thread, NULL);
	J.running = false;
	jwt_keyset_unref(J.keys);
	J.keys = NULL;
	free(J.url);
	J.url = NULL;
}

struct jwt_keyset *jwks_current(void)
{
	pthread_mutex_lock(&J.mu);
	struct jwt_keyset *ks = jwt_keyset_ref(J.keys);
	pthread_mutex_unlock(&J.mu);
	return ks;
}

void jwks_want_refresh(void)
{
	pthread_mutex_lock(&J.mu);
	J.want = true;
	pthread_cond_signal(&J.cv);
	pthread_mutex_unlock(&J.mu);
}

unsigned jwks_fetches(void)
{
	pthread_mutex_lock(&J.mu);
	unsigned n = J.fetches;
	pthread_mutex_unlock(&J.mu);
	return n;
}
