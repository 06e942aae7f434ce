/* Objectives against the values a lab's devices return (see
 * validate_returns.c). */
#ifndef LAB_VALIDATE_RETURNS_H
#define LAB_VALIDATE_RETURNS_H
#include <stddef.h>
#include <stdio.h>
#include "orchestrator/config.h"

/* Check every objective's `from` value against what the devices in the
 * simulated labs (labs) and worker configs (workers) return for its step's
 * capability. Problems go to errs as file:line:col: message. 0 or -1. */
int lab_validate_returns(const lab_campaign_cfg *cfg, const char *const *labs, size_t n_labs,
                         const char *const *workers, size_t n_workers, FILE *errs);

#endif
