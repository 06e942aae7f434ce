/* The review commands' command line (see review_args.h). */
#include "orchestrator/review/review_args.h"

#include <stdio.h>
#include <string.h>

#include "common/banned.h"

int lab_review_usage_error(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "labloop %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see labloop %s --help)\n", cmd);
    return 2;
}

/* The option a names (a may be --name=VALUE: *inline_value is then set). */
static const lab_review_opt *s_find(const lab_review_opt *opts, const char *a, const char **inline_value)
{
    *inline_value = NULL;
    for (const lab_review_opt *o = opts; o->name; o++) {
        if (!strcmp(a, o->name) || (o->alias && !strcmp(a, o->alias)))
            return o;
        size_t n = strlen(o->name);
        if (o->value && !strncmp(a, o->name, n) && a[n] == '=') {
            *inline_value = a + n + 1;
            return o;
        }
    }
    return NULL;
}

int lab_review_args(const char *cmd, const char *usage, int argc, char **argv,
                    const lab_review_opt *opts, const char **hub)
{
    *hub = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        const lab_review_opt *o;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 1;
        } else if ((o = s_find(opts, a, &v))) {
            if (o->flag) {
                *o->flag = 1;
                continue;
            }
            if (!v)
                v = i + 1 < argc ? argv[++i] : NULL;
            if (!v || !*v) {
                char msg[200];
                snprintf(msg, sizeof msg, "%s needs %s", o->name, o->needs ? o->needs : "a value");
                return lab_review_usage_error(cmd, "%s", msg);
            }
            *o->value = v;
        } else if (a[0] == '-' && a[1]) {
            return lab_review_usage_error(cmd, "unknown option '%s'", a);
        } else if (*hub) {
            return lab_review_usage_error(cmd, "one hub at a time (extra argument '%s')", a);
        } else {
            *hub = a;
        }
    }
    if (!*hub)
        return lab_review_usage_error(cmd, "%s", "which hub? give the path of a HUB.db");
    return 0;
}
