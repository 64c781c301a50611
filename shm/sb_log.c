/*
 * sb_log.c - formatting and dispatch of structured log lines.
 */
#include "sb_log.h"

#include <stdarg.h>
#include <stdio.h>

static sb_log_sink_fn log_sink;
static enum sb_log_level log_min = SB_LOG_INFO;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void sb_log_set_sink(sb_log_sink_fn sink)
{
	log_sink = sink;
}

void sb_log_set_level(enum sb_log_level min_level)
{
	log_min = min_level;
}

void sbi_log(enum sb_log_level level, const char *comp, const char *fmt, ...)
{
	char line[512];
	int n;
	va_list ap;

	if (level < log_min)
		return;
	n = snprintf(line, sizeof(line), "shmbus level=%s comp=%s ", level_names[level], comp);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (log_sink)
		log_sink(level, line);
	else
		fprintf(stderr, "%s\n", line);
}
