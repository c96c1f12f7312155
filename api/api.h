/* api.h: the modules shared by metricsbus-api and the metricsbus CLI: JSON, routes,
 * parameters, DC/OS and Prometheus rendering, auth, gzip, request serving, tables. */
#ifndef API_H
#define API_H

#include "mb.h"

#include <pthread.h>
#include <string.h>

/* ------------------------------------------------------------------ json.c
 * Appenders to an mb_buf; each returns 0 or MB_ENOMEM. api_putn is inline: a 300 KB answer
 * is ~30,000 small appends, and a constant n becomes a few stores. */
int api_put(struct mb_buf *b, const char *s);
static inline int api_putn(struct mb_buf *b, const char *s, size_t n)
{
	if (n <= b->cap - b->len) {
		if (n)
			memcpy(b->data + b->len, s, n);
		b->len += n;
		return 0;
	}
	return mb_buf_append(b, s, n);
}
/* A string literal, its length known at compile time. */
#define API_PUTL(b, lit) api_putn((b), "" lit, sizeof(lit) - 1)
/* A quoted JSON string per RFC 8259: ", \ and every control character escaped; invalid UTF-8
 * sequences replaced by U+FFFD. */
int api_json_str(struct mb_buf *b, const char *s);
int api_json_strn(struct mb_buf *b, const char *s, size_t n);
/* A finite number in its shortest round-trip form; null for NaN/Inf (callers skip those where
 * a number is required). */
int api_json_num(struct mb_buf *b, double v);
/* Shortest "%.Ng" that reads back as v (N = 1..17). buf >= 32 bytes. api_fmt_double_n
 * returns the length written. */
void api_fmt_double(double v, char *buf, size_t n);
size_t api_fmt_double_n(double v, char *buf, size_t n);
/* {"error":"msg"} */
int api_json_error(struct mb_buf *b, const char *msg);

/* ------------------------------------------------------------------ routes.c */
enum api_route_kind {
	API_R_NOTFOUND = 0,
	API_R_PING,
	API_R_NODE,
	API_R_CONTAINERS,
	API_R_CONTAINER,
	API_R_APP,
	API_R_METRICS,
	API_R_RANGE,
	API_R_RANGES,
	API_R_SERIES,
	API_R_HEALTHZ,
};
struct api_route {
	int kind;
	bool scoped;                /* /system/v1/agent/{node}/metrics/v0/... */
	bool dcos;                  /* a DC/OS prefix: nothing to show is 204, as DC/OS answers */
	bool bad_id;                /* id or name can never have been seen: answer 404 */
	char node[MB_MAX_NAME + 1]; /* scoped: {node} */
	char id[MB_MAX_NAME + 1];   /* container, app */
	char name[MB_MAX_NAME + 1]; /* app/{name}; "" = all */
};
/* Matches a raw (still percent-encoded) path. 0 with r->kind set (API_R_NOTFOUND for an unknown
 * path); MB_EINVAL with a reason for a malformed percent-escape. */
int api_route_parse(const char *path, struct api_route *r, char *err, size_t errlen);
/* Strict percent-decoding of s[0..n) into out (NUL-terminated): "%" must be followed by two
 * hex digits; a decoded NUL is refused. plus: '+' means ' '. MB_EINVAL (bad escape),
 * MB_ETOOBIG (does not fit in outn-1). */
int api_pct_decode(const char *s, size_t n, bool plus, char *out, size_t outn, size_t *outlen);
/* A schema "name": 1..255 bytes of 0x21..0x7e. */
bool api_valid_name(const char *s);

/* ------------------------------------------------------------------ range.c
 * Query-string parameters, decoded. */
#define API_MAX_ARGS 64
#define API_MAX_RANGES 50 /* names in one /v1/ranges request */
#define API_MAX_ARG 2048
struct api_args {
	int n;
	const char *key[API_MAX_ARGS];
	const char *val[API_MAX_ARGS];
	struct mb_arena arena;
};
/* Adds one raw (percent-encoded) pair, decoding it. MB_EINVAL naming the key on a bad escape,
 * MB_ETOOBIG past API_MAX_ARGS or API_MAX_ARG. */
int api_args_add(struct api_args *a, const char *rawkey, const char *rawval, char *err,
                 size_t errlen);
/* Parses a whole raw query string "a=1&b=2" ('+' as space). */
int api_args_parse(struct api_args *a, const char *qs, char *err, size_t errlen);
const char *api_args_get(const struct api_args *a, const char *key);
void api_args_free(struct api_args *a);
/* "k:v,k2:v2" (bare "k" = empty value) into sorted, unique tags in arena. MB_EINVAL. */
int api_tags_parse(const char *s, struct mb_arena *arena, struct mb_kv **tags, uint16_t *ntags,
                   char *err, size_t errlen);
/* Range parameters (any may be NULL) into q (op range; tags in q->arena). Defaults: from -1h,
 * to now, step auto, stat mean. MB_EINVAL with err naming the parameter. The 11,000-point
 * limit is agentd's (it rounds the step to the window it reads). */
struct api_range_params {
	const char *source, *name, *from, *to, *step, *stat, *tags;
};
int api_range_build(const struct api_range_params *p, int64_t now_ms, struct mb_query *q,
                    char *err, size_t errlen);

/* ------------------------------------------------------------------ dcos.c
 * JSON bodies for a 200 reply of each op, as docs/api.md shows them. */
int api_render_json(struct mb_buf *b, const struct mb_reply *r);

/* ------------------------------------------------------------------ dcosnames.c
 * A container reply's resource points renamed, re-tagged and re-united in place (in r's
 * arena) as DC/OS version 112 (1.12+, telegraf) or 111 (1.11, dcos-metrics) served them.
 * MB_ENOMEM. */
int api_dcos_container_names(struct mb_reply *r, int version);

/* ------------------------------------------------------------------ prom.c */
/* The DC/OS rule: lowercase, every char outside [a-z0-9_] -> '_', '_' before a leading digit.
 * out gets at most n-1 bytes. */
void api_prom_sanitize(const char *in, char *out, size_t n);
/* What one scrape may hold: per source (series, bytes of exposition) and in all (bytes). A
 * series past a cap is left out and counted; 0 means no cap. */
struct api_prom_caps {
	uint64_t src_series, src_bytes, total_bytes;
};
enum { API_CAP_SRC_SERIES, API_CAP_SRC_BYTES, API_CAP_TOTAL_BYTES, API_CAP_N };
/* Prometheus text 0.0.4 of an export reply. *skipped counts series left out because their
 * name and labels collided with another's, capped[API_CAP_*] those left out by caps (may be
 * NULL: no caps). */
int api_prom_render(struct mb_buf *out, const struct mb_reply *r, bool hist, uint64_t *skipped,
                    const struct api_prom_caps *caps, uint64_t capped[API_CAP_N]);
/* The same, a chunk at a time. new: sorts the reply's entries (take: the stream owns *r from
 * now on and frees it; else r must outlive the stream). next: appends families to out until it
 * grew by want or the end; 0 more to come, 1 the end (tail written), MB_ENOMEM. The tail (the
 * bridge's own metrics) is written last. One thread at a time. */
struct api_prom_stream;
int api_prom_stream_new(struct mb_reply *r, bool take, bool hist,
                        const struct api_prom_caps *caps, struct api_prom_stream **out);
int api_prom_stream_next(struct api_prom_stream *ps, struct mb_buf *out, size_t want);
struct mb_buf *api_prom_stream_tail(struct api_prom_stream *ps);
/* fn(arg, ps, tail) runs once, when the last family is written: it may append to the tail
 * (the counts of this scrape are final then). */
typedef void (*api_prom_at_end)(void *arg, struct api_prom_stream *ps, struct mb_buf *tail);
void api_prom_stream_at_end(struct api_prom_stream *ps, api_prom_at_end fn, void *arg);
void api_prom_stream_counts(const struct api_prom_stream *ps, uint64_t *skipped,
                            uint64_t capped[API_CAP_N]);
void api_prom_stream_free(struct api_prom_stream *ps);
/* One escaped label value ("\\", "\"", "\n"). */
int api_prom_label_value(struct mb_buf *b, const char *v);

/* ------------------------------------------------------------------ auth.c */
/* Reads the token (trailing whitespace trimmed; must be non-empty). MB_EINVAL/MB_ESYS. */
int api_token_load(const char *path, char *tok, size_t n, char *err, size_t errlen);
/* Constant-time check of an Authorization header value against "Bearer TOKEN". */
bool api_auth_ok(const char *header, const char *token);

/* ------------------------------------------------------------------ gzip.c */
/* True when an Accept-Encoding value accepts gzip (q=0 refuses). */
bool api_accepts_gzip(const char *accept_encoding);
int api_gzip(const void *in, size_t n, struct mb_buf *out);

/* ------------------------------------------------------------------ serve.c
 * One request to one answer, without HTTP plumbing (http.c calls it from MHD's threads). */
struct api_stats {
	uint64_t by_code[600]; /* requests answered, by HTTP status */
	uint64_t requests, down, timeouts, bad_replies, skipped;
	uint64_t capped[3]; /* series left out of /metrics by each cap (API_CAP_*) */
	uint64_t dur_us_sum;
};
struct api_server {
	struct mb_client *client;
	int timeout_ms;
	bool hist;
	struct api_prom_caps caps; /* /metrics */
	int dcos_names;    /* container metric names: 112 (DC/OS 1.12+, default) or 111 */
	const char *token; /* NULL: no auth */
	struct api_stats stats; /* updated with __atomic builtins */
	/* The ids agentd's last ping answered to (node, then the rest of ids), for scoped paths */
	char node_ids[MB_MAX_NODE_IDS][MB_MAX_NAME + 1];
	int n_node_ids;
	int64_t node_seen_ms;    /* when (monotonic): trusted for NODE_ID_TTL_MS */
	pthread_mutex_t node_mu; /* around node_ids, n_node_ids, node_seen_ms */
};
struct api_response {
	int status;
	const char *ctype; /* static */
	struct mb_buf body;
	bool www_auth;     /* 401: add WWW-Authenticate */
	bool allow;        /* 405: add Allow */
	bool gzipped;      /* body is gzip already (Content-Encoding: gzip) */
	const char *etag, *cache_control, *location; /* static; NULL: no such header */
	struct api_prom_stream *stream; /* /metrics: the body, rendered as it is sent */
};
/* A stream's end (sent, or the connection gone): frees it. */
void api_serve_stream_done(struct api_server *s, struct api_prom_stream *ps);
#ifdef MHD_VERSION
/* stream.c: the response that sends ps (taking it), gzip'ed when gzip_ok (*gz says so). NULL on
 * out of memory (ps freed). */
struct MHD_Response *api_stream_response(struct api_server *srv, struct api_prom_stream *ps,
                                         bool gzip_ok, bool *gz);
#endif
/* Fills resp (caller frees resp->body). Never fails: errors become statuses. */
void api_serve(struct api_server *s, const char *method, const char *path,
               const struct api_args *args, const char *authorization, struct api_response *resp);
/* Records one finished request. */
void api_stats_record(struct api_server *s, int status, int64_t dur_us);
/* Maps a client error (MB_EDOWN, MB_ETIMEDOUT, ...) to an HTTP status and JSON reason. */
int api_client_status(int rv, const char *err, int timeout_ms, char *msg, size_t n);

/* ------------------------------------------------------------------ ui.c
 * The dashboard's files, compiled in at build time (ui/embed.c writes the table; the last
 * entry has path NULL). Served without the token: the page's API calls carry it. */
struct api_asset {
	const char *path, *ctype;
	const unsigned char *data;
	size_t len;
	const char *etag; /* quoted, as sent */
};
extern const struct api_asset api_assets[];
/* True for "/ui" and everything under "/ui/". */
bool api_ui_path(const char *path);
/* Fills resp for a dashboard path: 200 with the file (gzip when gzip_ok and it helps), 304
 * when if_none_match (may be NULL) names its ETag, 301 from /ui to /ui/, 404, 405. Any thread. */
void api_ui_serve(const char *method, const char *path, const char *if_none_match, bool gzip_ok,
                  struct api_response *resp);

/* ------------------------------------------------------------------ http.c */
struct api_http;
struct api_http_opts {
	const char *listen; /* "127.0.0.1:61001", "[::1]:61001", ":61001" */
	unsigned threads, conn_limit, conn_timeout_s;
	unsigned client_limit;     /* connections from one IP address at once */
	int64_t header_timeout_ms; /* a request's whole headers, from its first byte's wait */
};

/* ------------------------------------------------------------------ guard.c
 * The header deadline: each connection is tracked from libmicrohttpd's notices; one whose
 * request headers are not complete header_timeout after it opened (or after its last answer)
 * is shut down, however slowly it keeps sending. */
struct MHD_Connection;
struct api_guard;
int api_guard_new(int64_t deadline_ms, struct api_guard **out); /* MB_ENOMEM, MB_ESYS */
void api_guard_free(struct api_guard *g);
#ifdef MHD_VERSION /* where microhttpd.h was included first */
/* libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION callback (cls: the guard). */
void api_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                      enum MHD_ConnectionNotificationCode toe);
#endif
void api_guard_headers_done(struct api_guard *g, struct MHD_Connection *conn);
void api_guard_request_done(struct api_guard *g, struct MHD_Connection *conn);
/* Connections cut by the deadline so far. */
uint64_t api_guard_cut(struct api_guard *g);
int api_http_start(const struct api_http_opts *o, struct api_server *s, struct api_http **out,
                   char *err, size_t errlen);
void api_http_stop(struct api_http *h);
/* "HOST:PORT" / "[V6]:PORT" into host (no brackets) and port. MB_EINVAL. */
int api_split_hostport(const char *s, char *host, size_t n, unsigned *port);

/* ------------------------------------------------------------------ cli_table.c
 * Aligned text tables: add cells row by row, then print. */
struct api_table {
	int ncols, nrows, cap;
	char **cells; /* nrows * ncols, strdup'd */
	bool right[16];
};
int api_table_init(struct api_table *t, int ncols, const char *const *headers);
int api_table_row(struct api_table *t, const char *const *cells);
int api_table_render(const struct api_table *t, struct mb_buf *out);
void api_table_free(struct api_table *t);
/* Tables for replies of each op (the CLI's default output). */
int api_render_table(struct mb_buf *b, const struct mb_reply *r);

/* ------------------------------------------------------------------ top.c */
/* The live view: refreshes every interval_ms until q, Ctrl-C or TERM. 0 or MB_EDOWN. */
/* budget.c: sources ranked by what they cost (/v1/series without source=, `metricsbus top`). */
#define API_BUDGET_REASONS 8
struct api_budget {
	char source[MB_MAX_NAME + 1];
	uint32_t series, live; /* known; with a point in the last 5 minutes */
	/* the shim's counters of its latest interval, per second */
	double lines_ps, bad_ps, refused_ps, unknown_ps, tag_errors_ps, udp_drops_ps;
	int nreasons; /* bad lines by reason (metricsbus.shim.parse_errors) */
	char reasons[API_BUDGET_REASONS][16];
	double reason_ps[API_BUDGET_REASONS];
	bool has_shim; /* the source sent a shim's counters (else: not a shim, or idle) */
	double refused; /* new series agentd refused it since agentd started (its limit) */
};
enum { API_BUDGET_BY_LIVE, API_BUDGET_BY_REFUSED, API_BUDGET_BY_LINES };
/* Every listed container (live or within --container-ttl): its series and the shim's rates.
 * Two queries per container. *out is malloc'd. mb_client_query's errors. */
int api_budget_collect(struct mb_client *c, int timeout_ms, int64_t now_ms,
                       struct api_budget **out, uint32_t *n, char *err, size_t errlen);
/* Highest first by `by`, then live series, refused, lines, then the name. */
void api_budget_sort(struct api_budget *b, uint32_t n, int by);
/* "live" (or "series", or empty), "refused", "lines"; MB_EINVAL otherwise. */
int api_budget_parse_sort(const char *s, int *by);
/* {"sort":..., "sources":[{source, series, live_series, lines_per_s, ...}]} and a newline. */
int api_budget_json(struct mb_buf *o, const struct api_budget *b, uint32_t n, int by);

int api_top_run(struct mb_client *c, int timeout_ms, int interval_ms, int iterations);
/* One frame into out (no terminal control), width columns. */
int api_top_frame(struct mb_client *c, int timeout_ms, int width, int rows, struct mb_buf *out,
                  char *err, size_t errlen);

#endif
