/*
 * sb_log.h - structured, greppable log lines (internal header).
 *
 * One line per event: "shmbus level=warn comp=segment msg=\"...\" key=value".
 * Control path only; the data path never logs.  The sink defaults to stderr
 * and can be replaced (the daemon sends it to its own log; tests silence it).
 */
#ifndef SB_LOG_H
#define SB_LOG_H

enum sb_log_level { SB_LOG_DEBUG, SB_LOG_INFO, SB_LOG_WARN, SB_LOG_ERR };

typedef void (*sb_log_sink_fn)(enum sb_log_level level, const char *line);

/* Replace the sink (NULL restores stderr).  Not thread-safe against
 * concurrent logging: set it once at start-up. */
void sb_log_set_sink(sb_log_sink_fn sink);
void sb_log_set_level(enum sb_log_level min_level);

void sbi_log(enum sb_log_level level, const char *comp, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* SB_LOG_H */
