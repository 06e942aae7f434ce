/* Clocks: monotonic microseconds for deadlines, wall microseconds for records. */
#ifndef LAB_CLOCK_H
#define LAB_CLOCK_H
#include <stdint.h>
#include <time.h>

static inline int64_t lab_clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t lab_clock_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
#endif
