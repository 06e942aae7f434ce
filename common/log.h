/* Logging to stderr with a timestamp, a level and the process's role.
 * Not for data: everything that matters to a campaign goes to the hub. */
#ifndef LAB_LOG_H
#define LAB_LOG_H

typedef enum { LAB_LOG_DEBUG, LAB_LOG_INFO, LAB_LOG_WARN, LAB_LOG_ERROR, LAB_LOG_QUIET } lab_log_level;

/* Process-wide settings, set once at start-up from main (not thread-safe). */
void lab_log_setup(const char *role, lab_log_level level);
lab_log_level lab_log_get_level(void);
void lab_log(lab_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define lab_debug(...) lab_log(LAB_LOG_DEBUG, __VA_ARGS__)
#define lab_info(...)  lab_log(LAB_LOG_INFO, __VA_ARGS__)
#define lab_warn(...)  lab_log(LAB_LOG_WARN, __VA_ARGS__)
#define lab_error(...) lab_log(LAB_LOG_ERROR, __VA_ARGS__)

#endif
