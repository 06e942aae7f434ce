/* A YAML document as a tree of nodes with their positions, on libyaml.
 *
 * Config loaders (campaign, lab, worker) walk this tree and report problems as
 * "file:line:column: message". Positions are 1-based. Nodes are libyaml's own
 * yaml_node_t, valid while the document lives. Not a YAML writer.
 */
#ifndef LAB_YTREE_H
#define LAB_YTREE_H

#include <stddef.h>
#include <stdio.h>
#include <yaml.h>
#include "common/err.h"

typedef struct lab_ydoc lab_ydoc;

/* Limits on what a config file may be, so that a huge or hostile file is
 * refused at once with one clear line instead of costing memory and minutes:
 * its size, how deeply mappings and lists may nest, and how many problems
 * lab_yerr prints (the rest are counted and summed up once). */
#define LAB_YAML_MAX_BYTES (1024 * 1024)
#define LAB_YAML_MAX_DEPTH 64
#define LAB_YAML_MAX_ERRORS 50

/* Parse text (len bytes) read from path (used in messages). A syntax error
 * returns NULL with err = "path:line:col: <libyaml's problem>". An empty
 * document is an error too, and so is text longer than LAB_YAML_MAX_BYTES or
 * nested deeper than LAB_YAML_MAX_DEPTH (checked before the tree is built). */
lab_ydoc *lab_ydoc_parse(const char *path, const char *text, size_t len, lab_err *err);
/* Read the file at path and parse it; *text_out (optional) receives the
 * bytes read, NUL-terminated, caller frees. */
lab_ydoc *lab_ydoc_load(const char *path, char **text_out, size_t *len_out, lab_err *err);
void lab_ydoc_destroy(lab_ydoc **d);

const char *lab_ydoc_path(const lab_ydoc *d);
yaml_node_t *lab_ydoc_root(lab_ydoc *d);

/* Mapping access. lab_ymap_pair: i-th pair (0-based), key and value nodes. */
size_t lab_ymap_len(const yaml_node_t *map);
void lab_ymap_pair(lab_ydoc *d, yaml_node_t *map, size_t i, yaml_node_t **key, yaml_node_t **val);
/* Value of key in map, or NULL. */
yaml_node_t *lab_ymap_get(lab_ydoc *d, yaml_node_t *map, const char *key);

/* Sequence access. */
size_t lab_yseq_len(const yaml_node_t *seq);
yaml_node_t *lab_yseq_at(lab_ydoc *d, yaml_node_t *seq, size_t i);

/* Scalar text, or NULL when the node is not a scalar. */
const char *lab_yscalar(const yaml_node_t *n);
int lab_yis_map(const yaml_node_t *n);
int lab_yis_seq(const yaml_node_t *n);
/* 1 when the scalar was written in quotes (so "1.5" is a string, not a number). */
int lab_yis_quoted(const yaml_node_t *n);
const char *lab_ykind(const yaml_node_t *n); /* "mapping", "list", "scalar" */

/* Scalar conversions: 0 on success, LAB_EINVAL when the text is not one. */
int lab_yto_double(const yaml_node_t *n, double *v);
int lab_yto_long(const yaml_node_t *n, long *v);
int lab_yto_bool(const yaml_node_t *n, int *v);   /* true/false/yes/no/on/off */

/* For loaders that collect their problems and print them sorted: when total
 * is above shown, print "path: ... and N more problems (not shown)" to out. */
void lab_yerr_more(FILE *out, const char *path, size_t shown, size_t total);

int lab_yline(const yaml_node_t *n);
int lab_ycol(const yaml_node_t *n);

/* Report a problem at node n: sets err (LAB_ECONFIG) to
 * "path:line:col: message" and, when out is not NULL, prints that line to it.
 * Only the first LAB_YAML_MAX_ERRORS lines are printed; lab_ydoc_destroy
 * prints "... and N more problems" for the rest to the last out used.
 * Returns LAB_ECONFIG. */
int lab_yerr(lab_ydoc *d, const yaml_node_t *n, FILE *out, lab_err *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
