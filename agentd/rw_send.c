/* rw_send.c: one receiver's HTTP client (libcurl): POST of a compressed WriteRequest with the
 * remote-write headers and bearer token, bounded time and error body, and what a status means. */
#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rw.h"

#define REASON_KEEP 512 /* bytes of an error body kept for the log */
#define TOKEN_MAX 4096

struct agent_rw_sender {
	CURL *h;
	char *url;
	char *token_file;
	int64_t timeout_ms;
	char body[REASON_KEEP + 1];
	size_t nbody;
	const atomic_bool *abort;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Keeps the start of the body for the log and reads on (a huge body costs time, bounded by
 * the request timeout, never memory). */
static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct agent_rw_sender *s = arg;
	size_t len = size * n, room = REASON_KEEP - s->nbody;
	size_t take = len < room ? len : room;
	memcpy(s->body + s->nbody, p, take);
	s->nbody += take;
	return len;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct agent_rw_sender *s = arg;
	(void)dt, (void)dn, (void)ut, (void)un;
	return s->abort && atomic_load(s->abort) ? 1 : 0;
}

int agent_rw_sender_open(const char *url, const char *token_file, int64_t timeout_ms,
                         struct agent_rw_sender **out)
{
	pthread_once(&curl_once, curl_init);
	struct agent_rw_sender *s = calloc(1, sizeof *s);
	if (!s)
		return MB_ENOMEM;
	s->url = strdup(url);
	s->token_file = token_file ? strdup(token_file) : NULL;
	s->timeout_ms = timeout_ms;
	if (!s->url || (token_file && !s->token_file) || !(s->h = curl_easy_init())) {
		agent_rw_sender_close(s);
		return MB_ENOMEM;
	}
	*out = s;
	return 0;
}

void agent_rw_sender_close(struct agent_rw_sender *s)
{
	if (!s)
		return;
	if (s->h)
		curl_easy_cleanup(s->h);
	free(s->url);
	free(s->token_file);
	free(s);
}

/* The token, re-read for every request so a rotated file takes effect at once. */
static int read_token(const char *path, char *tok, size_t n, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "token file %s: cannot read", path);
		return MB_ESYS;
	}
	size_t len = fread(tok, 1, n - 1, f);
	fclose(f);
	while (len && isspace((unsigned char)tok[len - 1]))
		len--;
	tok[len] = 0;
	if (!len || strpbrk(tok, "\r\n")) {
		snprintf(err, errlen, "token file %s: empty or more than one line", path);
		return MB_EINVAL;
	}
	return 0;
}

static void printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = ' ';
}

int agent_rw_post(struct agent_rw_sender *s, const struct mb_buf *body,
                  const atomic_bool *abort, int *status, char *reason, size_t rlen)
{
	char tok[TOKEN_MAX], auth[TOKEN_MAX + 32];
	struct curl_slist *hdr = NULL;
	int rv = 0;
	*status = 0;
	reason[0] = 0;
	if (s->token_file) {
		if ((rv = read_token(s->token_file, tok, sizeof tok, reason, rlen)) != 0)
			return rv;
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
		hdr = curl_slist_append(hdr, auth);
		memset(tok, 0, sizeof tok);
	}
	hdr = curl_slist_append(hdr, "Content-Encoding: snappy");
	hdr = curl_slist_append(hdr, "Content-Type: application/x-protobuf");
	hdr = curl_slist_append(hdr, "X-Prometheus-Remote-Write-Version: 0.1.0");
	hdr = curl_slist_append(hdr, "Expect:");
	if (!hdr) {
		memset(auth, 0, sizeof auth);
		return MB_ENOMEM;
	}
	CURL *h = s->h;
	curl_easy_reset(h);
	s->nbody = 0;
	s->abort = abort;
	curl_easy_setopt(h, CURLOPT_URL, s->url);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)body->data);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "metricsbus-agentd/" MB_VERSION);
	/* A redirect is the operator's mistake to fix, not ours to follow (and a loop of them
	 * must cost one request, not many). */
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(s->timeout_ms < 10000 ? s->timeout_ms : 10000));
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, s);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	CURLcode cc = curl_easy_perform(h);
	long code = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(hdr);
	memset(auth, 0, sizeof auth);
	*status = (int)code;
	if (cc != CURLE_OK) {
		snprintf(reason, rlen, "%s", curl_easy_strerror(cc));
		return cc == CURLE_ABORTED_BY_CALLBACK ? MB_EDOWN : MB_ENNG;
	}
	s->body[s->nbody] = 0;
	snprintf(reason, rlen, "%s", s->body);
	printable(reason);
	return 0;
}

enum agent_rw_verdict agent_rw_classify(int rv, int status)
{
	if (rv != 0)
		return status >= 400 && status != 429 && status < 500 ? AGENT_RW_REFUSED
		                                                       : AGENT_RW_RETRY;
	if (status >= 200 && status < 300)
		return AGENT_RW_OK;
	if (status == 429 || status < 200 || (status >= 300 && status < 400))
		return AGENT_RW_RETRY;
	if (status >= 500)
		return AGENT_RW_SERVER;
	return AGENT_RW_REFUSED;
}

void agent_rw_url_label(const char *url, char *out, size_t n)
{
	const char *p = strstr(url, "://");
	const char *host = p ? p + 3 : url;
	const char *at = strchr(host, '@'), *slash = strchr(host, '/');
	if (at && (!slash || at < slash))
		host = at + 1;
	size_t scheme = p ? (size_t)(p + 3 - url) : 0;
	size_t len = strcspn(host, "?#");
	snprintf(out, n, "%.*s%.*s", (int)scheme, url, (int)len, host);
}
