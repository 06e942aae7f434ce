/* The command line of the review commands (show, report, export, serve,
 * log): `labloop CMD HUB.db [OPTION...]`, parsed from a table of options.
 * Not for: what the options mean (each command), the campaign's own
 * commands (run, status, ...), which take a config file instead.
 */
#ifndef LAB_REVIEW_ARGS_H
#define LAB_REVIEW_ARGS_H

typedef struct lab_review_opt {
    const char *name;            /* "--campaign" */
    const char *alias;           /* "-o", or NULL */
    const char **value;          /* an option with a value: where it goes (also --name=VALUE) */
    int *flag;                   /* or a flag: set to 1 */
    const char *needs;           /* what the value is, for the error: "a campaign name" */
} lab_review_opt;

/* Parse argv[1..] against opts (ended by an entry with no name). Returns 0
 * with *hub set; 1 when --help printed usage (exit 0); 2 after a usage
 * error on stderr (exit 2): an unknown option, a value missing, a second
 * hub, or none. */
int lab_review_args(const char *cmd, const char *usage, int argc, char **argv,
                    const lab_review_opt *opts, const char **hub);

/* "labloop CMD: <fmt with arg>" and a pointer to --help, on stderr; returns 2. */
int lab_review_usage_error(const char *cmd, const char *fmt, const char *arg);

#endif
