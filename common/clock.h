/* Time in the two flavours a daemon needs: monotonic for durations and
 * timeouts (never jumps), wall clock for what people read. */
#ifndef SB_CLOCK_H
#define SB_CLOCK_H

#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t clock_mono_ms(void);

/* Microseconds on CLOCK_MONOTONIC. */
int64_t clock_mono_us(void);

/* Seconds since the Unix epoch. */
int64_t clock_wall_s(void);

#endif
