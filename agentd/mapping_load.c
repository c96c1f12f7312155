/* mapping_load.c: statsd_exporter's mapping YAML read with libyaml into rules: defaults, each
 * mapping's keys checked, regexes compiled (RE2's \d as POSIX), globs put in the tree. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "mapping_int.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return MB_EINVAL;
}

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static bool key_is(yaml_document_t *d, yaml_node_pair_t *p, const char *k)
{
	const char *s = scalar(yaml_document_get_node(d, p->key));
	return s && strcmp(s, k) == 0;
}

static bool truthy(const char *s)
{
	return s && (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE") ||
	             !strcmp(s, "yes") || !strcmp(s, "on"));
}

/* \d and \D (RE2, which statsd_exporter's rules are written in) to POSIX classes. */
static char *posix_regex(const char *s)
{
	size_t n = strlen(s);
	char *o = malloc(n * 6 + 1), *w = o;
	bool in_bracket = false;
	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n && (s[i + 1] == 'd' || s[i + 1] == 'D')) {
			const char *cls = in_bracket ? "[:digit:]" : s[i + 1] == 'd' ? "[[:digit:]]"
			                                                             : "[^[:digit:]]";
			w += sprintf(w, "%s", cls);
			i++;
			continue;
		}
		if (s[i] == '\\' && i + 1 < n) {
			*w++ = s[i++];
			*w++ = s[i];
			continue;
		}
		if (s[i] == '[')
			in_bracket = true;
		else if (s[i] == ']')
			in_bracket = false;
		*w++ = s[i];
	}
	*w = 0;
	return o;
}

static bool label_key_ok(const char *k)
{
	size_t n = strlen(k);
	if (n == 0 || n > MB_MAX_TAG_KEY)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)k[i] < 0x21 || (unsigned char)k[i] == 0x7f)
			return false;
	return true;
}

static int load_rule(yaml_document_t *d, yaml_node_t *n, bool def_regex, struct rule *r,
                     char *err, size_t errlen)
{
	int line = (int)n->start_mark.line + 1;
	const char *action = NULL, *mtype = NULL, *types = NULL;
	if (n->type != YAML_MAPPING_NODE)
		return fail(err, errlen, "line %d: a mapping must be a map of keys", line);
	r->regex = def_regex;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *v = yaml_document_get_node(d, p->value);
		if (key_is(d, p, "match")) { /* given twice: the last, as YAML readers do */
			free(r->match);
			r->match = NULL;
			if (!scalar(v) || !(r->match = strdup(scalar(v))))
				return fail(err, errlen, "line %d: match must be a string", line);
		} else if (key_is(d, p, "name")) {
			free(r->name);
			r->name = NULL;
			if (!scalar(v) || !(r->name = strdup(scalar(v))))
				return fail(err, errlen, "line %d: name must be a string", line);
		} else if (key_is(d, p, "match_type")) {
			mtype = scalar(v);
		} else if (key_is(d, p, "action")) {
			action = scalar(v);
		} else if (key_is(d, p, "match_metric_type")) {
			types = scalar(v);
		} else if (key_is(d, p, "honor_labels")) {
			r->honor_labels = truthy(scalar(v));
		} else if (key_is(d, p, "labels")) {
			if (!v || v->type != YAML_MAPPING_NODE)
				return fail(err, errlen, "line %d: labels must be a map", line);
			for (yaml_node_pair_t *l = v->data.mapping.pairs.start;
			     l < v->data.mapping.pairs.top; l++) {
				const char *k = scalar(yaml_document_get_node(d, l->key));
				const char *val = scalar(yaml_document_get_node(d, l->value));
				if (!k || !val || !label_key_ok(k))
					return fail(err, errlen, "line %d: a label must be NAME: \"value\"",
					            line);
				if (r->nlabels == MB_MAX_TAGS)
					return fail(err, errlen, "line %d: more than %d labels", line,
					            MB_MAX_TAGS);
				r->lkeys[r->nlabels] = strdup(k);
				r->lvals[r->nlabels] = strdup(val);
				if (!r->lkeys[r->nlabels] || !r->lvals[r->nlabels])
					return MB_ENOMEM;
				r->nlabels++;
			}
		}
		/* Anything else (ttl, timer_type, observer_type, buckets, quantiles, help,
		 * summary_options, histogram_options, scale...) shapes Prometheus types that
		 * metricsbus decides itself: accepted, not used. */
	}
	if (!r->match || !*r->match)
		return fail(err, errlen, "line %d: a mapping needs a match", line);
	if (mtype) {
		if (!strcmp(mtype, "regex"))
			r->regex = true;
		else if (!strcmp(mtype, "glob"))
			r->regex = false;
		else
			return fail(err, errlen, "line %d: match_type %s: want glob or regex", line,
			            mtype);
	}
	if (action && strcmp(action, "map") != 0 && strcmp(action, "drop") != 0)
		return fail(err, errlen, "line %d: action %s: want map or drop", line, action);
	r->drop = action && !strcmp(action, "drop");
	if (types && *types) {
		if (!strcmp(types, "counter"))
			r->types = T_COUNTER;
		else if (!strcmp(types, "gauge"))
			r->types = T_GAUGE;
		else if (!strcmp(types, "observer") || !strcmp(types, "timer") ||
		         !strcmp(types, "histogram") || !strcmp(types, "distribution"))
			r->types = T_OBSERVER;
		else if (!strcmp(types, "set"))
			r->types = T_SET;
		else
			return fail(err, errlen,
			            "line %d: match_metric_type %s: want counter, gauge, observer or "
			            "timer",
			            line, types);
	}
	if (!r->drop && (!r->name || !*r->name))
		return fail(err, errlen, "line %d: a mapping of %s needs a name", line, r->match);
	if (r->regex) {
		char *px = posix_regex(r->match);
		if (!px)
			return MB_ENOMEM;
		int rc = regcomp(&r->re, px, REG_EXTENDED);
		free(px);
		if (rc != 0) {
			char m[128];
			regerror(rc, &r->re, m, sizeof m);
			return fail(err, errlen, "line %d: regex %s: %s", line, r->match, m);
		}
		r->re_ok = true;
	} else {
		size_t nc = 1;
		for (const char *c = r->match; *c; c++)
			if (*c == '.')
				nc++;
		if (nc > MAX_COMPS || strstr(r->match, "..") || r->match[0] == '.' ||
		    r->match[strlen(r->match) - 1] == '.')
			return fail(err, errlen, "line %d: glob %s: empty component or more than %d",
			            line, r->match, MAX_COMPS);
	}
	return 0;
}

int agent_mapping_load(const char *path, struct agent_mapping **out, char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	int rv = 0;
	struct agent_mapping *m = NULL;
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s", strerror(errno));
		return MB_ESYS;
	}
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		return MB_ENOMEM;
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		rv = fail(err, errlen, "line %d: %s%s%s", (int)parser.problem_mark.line + 1,
		          parser.problem ? parser.problem : "not YAML",
		          parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		fclose(f);
		return rv;
	}
	yaml_parser_delete(&parser);
	fclose(f);

	if (!(m = calloc(1, sizeof *m)) || !(m->root = agent_map_gnode_new()) ||
	    !(m->cache = calloc(CACHE_SIZE, sizeof *m->cache))) {
		rv = MB_ENOMEM;
		goto out;
	}
	pthread_mutex_init(&m->cache_mu, NULL);
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	yaml_node_t *maps = NULL;
	bool def_regex = false;
	if (root && root->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
		     p < root->data.mapping.pairs.top; p++) {
			yaml_node_t *v = yaml_document_get_node(&doc, p->value);
			if (key_is(&doc, p, "mappings")) {
				maps = v;
			} else if (key_is(&doc, p, "defaults") && v && v->type == YAML_MAPPING_NODE) {
				for (yaml_node_pair_t *q = v->data.mapping.pairs.start;
				     q < v->data.mapping.pairs.top; q++) {
					const char *s = scalar(yaml_document_get_node(&doc, q->value));
					if (key_is(&doc, q, "match_type") && s) {
						if (strcmp(s, "regex") && strcmp(s, "glob")) {
							rv = fail(err, errlen,
							          "defaults: match_type %s: want glob "
							          "or regex",
							          s);
							goto out;
						}
						def_regex = !strcmp(s, "regex");
					}
					if (key_is(&doc, q, "glob_disable_ordering") && s)
						m->unordered = truthy(s);
				}
			}
		}
	} else if (root && !(root->type == YAML_SCALAR_NODE && !*scalar(root))) {
		rv = fail(err, errlen, "line 1: want a map with \"mappings:\"");
		goto out;
	}
	if (maps && maps->type == YAML_SEQUENCE_NODE) {
		int n = (int)(maps->data.sequence.items.top - maps->data.sequence.items.start);
		if (n > 0 && (!(m->rules = calloc((size_t)n, sizeof *m->rules)) ||
		              !(m->regex_rules = calloc((size_t)n, sizeof *m->regex_rules)))) {
			rv = MB_ENOMEM;
			goto out;
		}
		for (int i = 0; i < n; i++) {
			yaml_node_t *rn =
			    yaml_document_get_node(&doc, maps->data.sequence.items.start[i]);
			struct rule *r = &m->rules[i];
			r->idx = i;
			m->nrules = i + 1;
			if (!rn) {
				rv = fail(err, errlen, "mapping %d: empty", i + 1);
				goto out;
			}
			if ((rv = load_rule(&doc, rn, def_regex, r, err, errlen)) != 0)
				goto out;
			if (r->regex)
				m->regex_rules[m->nregex++] = i;
			else if ((rv = agent_map_gtree_add(m->root, r)) != 0)
				goto out;
		}
	} else if (maps && !(maps->type == YAML_SCALAR_NODE && !*scalar(maps))) {
		rv = fail(err, errlen, "line %d: mappings must be a list",
		          (int)maps->start_mark.line + 1);
		goto out;
	}
	agent_map_gtree_done(m->root);
out:
	yaml_document_delete(&doc);
	if (rv != 0) {
		agent_mapping_free(m);
		return rv;
	}
	*out = m;
	return 0;
}

void agent_mapping_free(struct agent_mapping *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->nrules; i++) {
		struct rule *r = &m->rules[i];
		free(r->match);
		free(r->name);
		for (int l = 0; l < r->nlabels; l++) {
			free(r->lkeys[l]);
			free(r->lvals[l]);
		}
		if (r->re_ok)
			regfree(&r->re);
	}
	if (m->cache)
		for (size_t i = 0; i < CACHE_SIZE; i++)
			free(m->cache[i].name);
	free(m->cache);
	free(m->rules);
	free(m->regex_rules);
	agent_map_gnode_free(m->root);
	pthread_mutex_destroy(&m->cache_mu);
	free(m);
}

