/* Tidy exports of a campaign for analysis elsewhere (pandas, R, a
 * spreadsheet) and for archives: one row per experiment or step attempt,
 * one column per parameter, objective or returned value with its unit in
 * the header ("temperature [degC]"), ISO 8601 UTC times; and an RO-Crate
 * 1.1 directory (the CSVs, the campaign's config, its artifacts and
 * ro-crate-metadata.json describing each file, instrument, person and unit).
 *
 * For: `labloop export --format csv|ro-crate`. Not for: the raw tables in
 * their hub layout (cmd_export.c, --raw) or SQL (hub_query.c).
 */
#ifndef LAB_EXPORT_TIDY_H
#define LAB_EXPORT_TIDY_H
#include <stdint.h>
#include <stdio.h>
#include "common/err.h"
#include "orchestrator/hub/hub_query.h"
#include "orchestrator/review/review.h"

/* One CSV field (RFC 4180: quoted when it holds , " CR or LF). NULL writes
 * nothing (an empty field). */
void lab_export_csv_field(FILE *f, const char *s);

/* "2025-05-01T12:00:00.123Z" (UTC, milliseconds) into buf; "" for t_us 0. */
const char *lab_export_iso_ms(int64_t t_us, char *buf, size_t n);

/* Experiments of r as a tidy CSV: campaign, campaign_status, experiment,
 * status, origin, proposed_at, finished_at, one column per parameter and
 * objective ("name [unit]"), failure_cause, planner, planner_reason,
 * acquisition_value, predicted_mean, predicted_sd, per objective
 * "predicted NAME [unit]" and "predicted NAME sd [unit]" (empty unless the
 * planner stored them), export_control. 0 or LAB_EIO. */
int lab_export_tidy_experiments(const lab_review *r, FILE *f);

/* Step attempts as a tidy CSV: campaign, experiment, step, attempt,
 * attempt_id, device, status, queued_at, started_at, finished_at,
 * "duration [s]", error, then one column per step parameter and per
 * returned value (units where the campaign's config gives them). */
int lab_export_tidy_steps(lab_hub_query *q, const lab_review *r, FILE *f, lab_err *err);

/* Write an RO-Crate 1.1 into the new directory dir (it must not exist):
 * experiments.csv, steps.csv, campaign.yaml (the stored config),
 * artifacts/<experiment>/<sha256-prefix>-<name> and ro-crate-metadata.json. */
int lab_export_rocrate(lab_hub_query *q, const lab_review *r, const char *dir, lab_err *err);

#endif
