/* For harnesses whose loader reads a path: the input is written to one
 * temporary file (on tmpfs when /dev/shm exists), rewritten each run. */
#ifndef LAB_FUZZ_FILE_H
#define LAB_FUZZ_FILE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *fuzz_file(const uint8_t *data, size_t size)
{
    static char path[64];
    static int fd = -1;
    if (fd < 0) {
        snprintf(path, sizeof path, "%s/labloop-fuzz.XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        fd = mkstemp(path);
        if (fd < 0) {
            perror("mkstemp");
            abort();
        }
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) {
        perror("fuzz input file");
        abort();
    }
    return path;
}

#endif
