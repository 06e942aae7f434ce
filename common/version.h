/* labloop's version, reported in Hello, the hub and `labloop --version`. */
#ifndef LAB_VERSION_H
#define LAB_VERSION_H
#define LAB_VERSION_STRING "0.1.0"
#endif
