/* Durations as configs write them ("90", "90s", "500ms", "5m", "2h", "1d"),
 * read in one place for the campaign, lab and worker configs.
 * Not for: formatting durations (each printer says what it needs). */
#ifndef LAB_DURATION_H
#define LAB_DURATION_H

/* s is a non-negative number with an optional unit: none or s (seconds), ms,
 * m or min, h, d; no sign, no space. 0 and *seconds set, or LAB_EINVAL when s
 * is not one (NaN, infinity and values that overflow a double are refused). */
int lab_duration_parse(const char *s, double *seconds);

#endif
