/* Compact JSON text of a jansson value, written fast.
 *
 * Byte for byte what json_dumps(j, JSON_COMPACT) writes (keys in insertion
 * order, reals as "%.17g" with ".0" added to whole numbers and the
 * exponent's '+' and leading zeros dropped, strings escaped as jansson
 * escapes them), in one growing buffer, without jansson's per-piece
 * callbacks. The orchestrator formats several JSON texts for every step it
 * runs (events, parameters, results): this is on its hot path.
 * Not for: parsing (jansson), pretty printing, values with recursion.
 */
#ifndef LAB_JSONTEXT_H
#define LAB_JSONTEXT_H

#include <jansson.h>

/* The compact text of j (an object, array or scalar), NUL-terminated; the
 * caller frees it. NULL when j is NULL or out of memory. */
char *lab_json_compact(const json_t *j);

#endif
