/* The null driver: finishes every step at once, echoing its numeric
 * parameters as values. For the dispatch benchmark and protocol tests,
 * where only the path is measured. */
#ifndef LAB_NULL_DRIVER_H
#define LAB_NULL_DRIVER_H
#include "devices/driver.h"
extern const lab_driver_ops lab_null_driver_ops;
#endif
