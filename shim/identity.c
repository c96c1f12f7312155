/* identity.c: who the container is: its id and dimensions, from flags and from the
 * environment Mesos, Marathon and Kubernetes give it (sent once per batch). */
#include "shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *store(struct shim_identity *id, const char *s, size_t n)
{
	if (id->used + n + 1 > sizeof id->store)
		return NULL;
	char *p = id->store + id->used;
	memcpy(p, s, n);
	p[n] = 0;
	id->used += n + 1;
	return p;
}

/* Later calls replace the value of a key set before (so --dimension wins over the env). */
static int set_dim(struct shim_identity *id, const char *k, size_t kl, const char *v, size_t vl)
{
	const char *ks = NULL, *vs;
	int at = id->ndims;
	for (int i = 0; i < id->ndims; i++) {
		if (strlen(id->dims[i].key) == kl && memcmp(id->dims[i].key, k, kl) == 0) {
			at = i;
			ks = id->dims[i].key;
		}
	}
	if (at == MB_MAX_DIMS)
		return MB_ETOOBIG;
	if (!ks && !(ks = store(id, k, kl)))
		return MB_ETOOBIG;
	if (!(vs = store(id, v, vl)))
		return MB_ETOOBIG;
	id->dims[at].key = ks;
	id->dims[at].val = vs;
	if (at == id->ndims)
		id->ndims++;
	return 0;
}

static bool dim_key_ok(const char *k, size_t n)
{
	if (n == 0 || n > MB_MAX_DIM_KEY)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = k[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* Text per schemas/v1 for a dimension value: printable, no control bytes. Non-ASCII is
 * replaced rather than validated as UTF-8: ids and labels are ASCII in practice. */
static void clean_text(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '_';
}

static void env_dim(struct shim_identity *id, const char *env, const char *key, bool strip_slash)
{
	const char *v = getenv(env);
	if (!v || !*v)
		return;
	if (strip_slash)
		while (*v == '/')
			v++;
	char tmp[MB_MAX_DIM_VAL + 1];
	snprintf(tmp, sizeof tmp, "%s", v);
	clean_text(tmp);
	if (set_dim(id, key, strlen(key), tmp, strlen(tmp)) != 0)
		mb_log_warnx("dimension %s from %s dropped: too many dimensions", key, env);
}

/* A schema name: 0x21..0x7e, 1..255 bytes. */
static void sanitise_id(char *dst, size_t n, const char *src)
{
	size_t i = 0;
	for (; src[i] && i < n - 1 && i < MB_MAX_NAME; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = (c < 0x21 || c > 0x7e) ? '_' : (char)c;
	}
	dst[i] = 0;
}

/* "/group/app" -> "app.group": the Mesos task name Marathon gives an app's tasks. */
static void marathon_task_name(const char *app, char *out, size_t n)
{
	const char *end = app + strlen(app);
	size_t o = 0;
	out[0] = 0;
	while (end > app) {
		const char *p = end;
		while (p > app && p[-1] != '/')
			p--;
		size_t len = (size_t)(end - p);
		if (len) {
			if (o && o + 1 < n)
				out[o++] = '.';
			if (o + len >= n)
				len = n - 1 - o;
			memcpy(out + o, p, len);
			o += len;
			out[o] = 0;
		}
		end = p > app ? p - 1 : app;
	}
}

const char *shim_mountinfo_path = "/proc/self/mountinfo";

/* The Mesos identity, from the most direct source there is (docs/statsd.md). */
static bool mesos_identity(struct shim_mesos *m)
{
	const char *dir = getenv("MESOS_DIRECTORY"), *sb = getenv("MESOS_SANDBOX");
	const char *name = getenv("MESOS_CONTAINER_NAME");
	if (dir && shim_mesos_from_path(dir, strlen(dir), m) == 0)
		return true;
	if (sb && shim_mesos_from_path(sb, strlen(sb), m) == 0)
		return true;
	FILE *f = fopen(shim_mountinfo_path, "re");
	if (f) {
		static char text[1 << 18]; /* identity is read once, before any thread */
		size_t r = fread(text, 1, sizeof text - 1, f);
		fclose(f);
		text[r] = 0;
		if (shim_mesos_from_mountinfo(text, sb, m) == 0)
			return true;
	}
	return name && shim_mesos_from_name(name, m) == 0;
}

static int kv_flags(struct shim_identity *id, const struct mb_strlist *l, const char *flag,
                    const char *prefix, char *err, size_t errlen)
{
	size_t pl = strlen(prefix);
	for (int i = 0; l && i < l->n; i++) {
		const char *kv = l->v[i];
		const char *eq = strchr(kv, '=');
		char key[MB_MAX_DIM_KEY + 1];
		if (!eq || (size_t)(eq - kv) + pl > MB_MAX_DIM_KEY ||
		    !dim_key_ok(kv, (size_t)(eq - kv))) {
			snprintf(err, errlen,
			         "%s \"%s\": want KEY=VALUE with KEY of [A-Za-z0-9_.-], 1..%zu bytes",
			         flag, kv, MB_MAX_DIM_KEY - pl);
			return MB_EINVAL;
		}
		snprintf(key, sizeof key, "%s%.*s", prefix, (int)(eq - kv), kv);
		char v[MB_MAX_DIM_VAL + 1];
		if (strlen(eq + 1) > MB_MAX_DIM_VAL) {
			snprintf(err, errlen, "%s \"%.40s...\": value over %d bytes", flag, kv,
			         MB_MAX_DIM_VAL);
			return MB_EINVAL;
		}
		snprintf(v, sizeof v, "%s", eq + 1);
		clean_text(v);
		if (set_dim(id, key, strlen(key), v, strlen(v)) != 0) {
			snprintf(err, errlen, "%s: too many dimensions (max %d)", flag, MB_MAX_DIMS);
			return MB_EINVAL;
		}
	}
	return 0;
}

/* MARATHON_APP_LABEL_NAME=value for each label of the app (Marathon upper-cases NAME). */
static void marathon_labels(struct shim_identity *id)
{
	extern char **environ;
	static const char pre[] = "MARATHON_APP_LABEL_";
	for (char **e = environ; e && *e; e++) {
		if (strncmp(*e, pre, sizeof pre - 1) != 0)
			continue;
		const char *k = *e + sizeof pre - 1, *eq = strchr(k, '=');
		if (!eq || eq == k || (size_t)(eq - k) + 7 > MB_MAX_DIM_KEY ||
		    !dim_key_ok(k, (size_t)(eq - k)))
			continue;
		char key[MB_MAX_DIM_KEY + 1], v[MB_MAX_DIM_VAL + 1];
		snprintf(key, sizeof key, "labels.%.*s", (int)(eq - k), k);
		snprintf(v, sizeof v, "%s", eq + 1);
		clean_text(v);
		if (set_dim(id, key, strlen(key), v, strlen(v)) != 0)
			mb_log_warnx("label %s dropped: too many dimensions", key + 7);
	}
}

int shim_identity_init(struct shim_identity *id, const char *flag_cid,
                       const struct mb_strlist *dimflags, const struct mb_strlist *labelflags,
                       const char *command, uint64_t inst, char *err, size_t errlen)
{
	memset(id, 0, sizeof *id);
	const char *k8s = getenv("KUBERNETES_SERVICE_HOST");
	const char *mesos = getenv("MESOS_CONTAINER_NAME");
	const char *host = getenv("HOSTNAME");
	struct shim_mesos m;
	bool is_mesos = mesos_identity(&m);

	if (flag_cid && *flag_cid) {
		sanitise_id(id->cid, sizeof id->cid, flag_cid);
	} else if (is_mesos) {
		snprintf(id->cid, sizeof id->cid, "%s", m.cid);
	} else if (mesos && *mesos) {
		sanitise_id(id->cid, sizeof id->cid, mesos);
	} else if (host && *host) {
		if (k8s && *k8s) {
			/* Containers of one pod share HOSTNAME (the pod's name): the container's
			 * own name tells them apart. */
			const char *name = getenv("METRICSBUS_CONTAINER_NAME");
			const char *base = command ? strrchr(command, '/') : NULL;
			base = base ? base + 1 : command;
			if (!name || !*name)
				name = base && *base ? base : "shim";
			char tmp[2 * MB_MAX_NAME + 2];
			snprintf(tmp, sizeof tmp, "%s:%s", host, name);
			sanitise_id(id->cid, sizeof id->cid, tmp);
		} else {
			sanitise_id(id->cid, sizeof id->cid, host);
		}
	}
	if (!id->cid[0])
		snprintf(id->cid, sizeof id->cid, "shim-%016llx", (unsigned long long)inst);

	if (is_mesos) {
		const char *pd[][2] = {{"mesos_id", m.agent},
		                       {"framework_id", m.framework},
		                       {"executor_id", m.executor}};
		for (int i = 0; i < 3; i++)
			if (pd[i][1][0])
				set_dim(id, pd[i][0], strlen(pd[i][0]), pd[i][1], strlen(pd[i][1]));
	}
	env_dim(id, "MESOS_TASK_ID", "task_id", false);
	env_dim(id, "MESOS_EXECUTOR_ID", "executor_id", false);
	env_dim(id, "MESOS_FRAMEWORK_ID", "framework_id", false);
	env_dim(id, "MESOS_FRAMEWORK_NAME", "framework_name", false);
	env_dim(id, "MESOS_FRAMEWORK_ROLE", "framework_role", false);
	env_dim(id, "MESOS_FRAMEWORK_PRINCIPAL", "framework_principal", false);
	env_dim(id, "MESOS_AGENT_ID", "mesos_id", false);
	env_dim(id, "MESOS_SLAVE_ID", "mesos_id", false);
	const char *app = getenv("MARATHON_APP_ID");
	if (app && *app) {
		char tn[MB_MAX_DIM_VAL + 1];
		marathon_task_name(app, tn, sizeof tn);
		clean_text(tn);
		if (tn[0])
			set_dim(id, "task_name", 9, tn, strlen(tn));
		if (!getenv("MESOS_FRAMEWORK_NAME"))
			set_dim(id, "framework_name", 14, "marathon", 8);
	}
	if (k8s && *k8s) {
		env_dim(id, "HOSTNAME", "pod_name", false);
		env_dim(id, "POD_NAMESPACE", "namespace", false);
		env_dim(id, "METRICSBUS_CONTAINER_NAME", "container_name", false);
	}
	marathon_labels(id);
	int rv;
	if ((rv = kv_flags(id, labelflags, "--label", "labels.", err, errlen)) != 0)
		return rv;
	return kv_flags(id, dimflags, "--dimension", "", err, errlen);
}
