/* Diagnostics to stderr, one line each, with level and UTC time. Never pass a secret. */
#ifndef SY_LOG_H
#define SY_LOG_H

typedef enum en_sy_log_level_t { SY_LOG_ERROR, SY_LOG_WARN, SY_LOG_INFO, SY_LOG_DEBUG } sy_log_level_t;

void sy_log_set_level(sy_log_level_t level);
void sy_log(sy_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
