/* Ground-truth models of the simulated lab: Branin, Hartmann-3/6 and the
 * CsPbBr3 nanocrystal emulator, plus the seeded measurement noise.
 *
 * For: turning an experiment's inputs into what an instrument would read,
 * deterministically given a seed. Not for: timing, faults or transport (the
 * simulated devices wrap this), and not a physical model of perovskite
 * chemistry: nanocrystal_pl is a smooth, plausible-looking surface with the
 * features a planner must cope with (categorical and integer inputs, a log
 * scale, two competing outputs, a region where synthesis fails).
 */
#include "sim/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define S_MAX_INPUTS 6
#define S_MAX_OUTPUTS 2

/* ------------------------------------------------------------------ PRNG */

/* splitmix64 expands the user's seed into xoshiro256** state. */
static uint64_t s_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t s_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t s_xoshiro_next(uint64_t st[4])
{
    uint64_t result = s_rotl(st[1] * 5, 7) * 9;
    uint64_t t = st[1] << 17;
    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = s_rotl(st[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double s_uniform(uint64_t st[4])
{
    return (double)(s_xoshiro_next(st) >> 11) * 0x1.0p-53;
}

/* ---------------------------------------------------------- model specs */

typedef int (*s_truth_fn)(const double *x, double *y, const char **reason);

typedef struct s_spec {
    const char *kind;
    const lab_model_input *inputs;
    size_t n_inputs;
    const char *const *outputs;
    const int *maximize;
    const double *noise_scale;  /* sd = noise * noise_scale[i] */
    size_t n_outputs;
    s_truth_fn truth;
    /* Known optimum of output 0; for nanocrystal_pl n_opt_x is 0 and the
     * optimum is computed in lab_model_new. */
    double opt_x[S_MAX_INPUTS];
    size_t n_opt_x;
} s_spec;

struct lab_model {
    const s_spec *spec;
    double noise;
    uint64_t rng[4];
    double spare;           /* second Box-Muller deviate, valid if has_spare */
    int has_spare;
    double opt_x[S_MAX_INPUTS];
    double opt_y0;
};

/* -------------------------------------------------------------- Branin */

static int s_branin(const double *x, double *y, const char **reason)
{
    const double pi = M_PI;
    const double b = 5.1 / (4.0 * pi * pi), c = 5.0 / pi, r = 6.0, s = 10.0;
    const double t = 1.0 / (8.0 * pi);
    double q = x[1] - b * x[0] * x[0] + c * x[0] - r;
    y[0] = q * q + s * (1.0 - t) * cos(x[0]) + s;
    *reason = NULL;
    return 0;
}

/* ------------------------------------------------------------ Hartmann */

static const double s_h_alpha[4] = {1.0, 1.2, 3.0, 3.2};

static const double s_h3_a[4][3] = {
    {3.0, 10.0, 30.0}, {0.1, 10.0, 35.0}, {3.0, 10.0, 30.0}, {0.1, 10.0, 35.0}};
static const double s_h3_p[4][3] = {
    {0.3689, 0.1170, 0.2673}, {0.4699, 0.4387, 0.7470},
    {0.1091, 0.8732, 0.5547}, {0.0381, 0.5743, 0.8828}};

static const double s_h6_a[4][6] = {
    {10.0, 3.0, 17.0, 3.5, 1.7, 8.0},
    {0.05, 10.0, 17.0, 0.1, 8.0, 14.0},
    {3.0, 3.5, 1.7, 10.0, 17.0, 8.0},
    {17.0, 8.0, 0.05, 10.0, 0.1, 14.0}};
static const double s_h6_p[4][6] = {
    {0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886},
    {0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991},
    {0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650},
    {0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381}};

static double s_hartmann(const double *x, size_t d, const double *a, const double *p)
{
    double f = 0.0;
    for (size_t i = 0; i < 4; i++) {
        double e = 0.0;
        for (size_t j = 0; j < d; j++) {
            double dx = x[j] - p[i * d + j];
            e += a[i * d + j] * dx * dx;
        }
        f -= s_h_alpha[i] * exp(-e);
    }
    return f;
}

static int s_hartmann3(const double *x, double *y, const char **reason)
{
    y[0] = s_hartmann(x, 3, &s_h3_a[0][0], &s_h3_p[0][0]);
    *reason = NULL;
    return 0;
}

static int s_hartmann6(const double *x, double *y, const char **reason)
{
    y[0] = s_hartmann(x, 6, &s_h6_a[0][0], &s_h6_p[0][0]);
    *reason = NULL;
    return 0;
}

/* ------------------------------------------------------ nanocrystal_pl */

enum { S_NC_RATIO, S_NC_TEMP, S_NC_TIME, S_NC_LIGAND, S_NC_WASHES, S_NC_N };

#define S_NC_N_LIGANDS 3
#define S_NC_MAX_WASHES 3
/* Best reachable yield with the best ligand and washing. */
#define S_NC_QY_PEAK 0.92

static const char *const s_nc_ligands[S_NC_N_LIGANDS] = {
    "oleylamine", "octylamine", "dodecylamine"};

/* Per ligand: where the yield peaks and how high. Shorter amines bind less
 * strongly (lower yield) but give narrower size distributions. */
typedef struct s_nc_ligand {
    double ratio0, temp0, log_time0;   /* yield optimum */
    double qy_scale;                   /* peak yield relative to S_NC_QY_PEAK */
    double fwhm_scale;                 /* linewidth multiplier */
} s_nc_ligand;

static const s_nc_ligand s_nc_lig[S_NC_N_LIGANDS] = {
    {0.80, 170.0, 1.7782, 1.00, 1.00},   /* oleylamine: t0 = 60 s */
    {0.90, 160.0, 1.6021, 0.82, 0.92},   /* octylamine: t0 = 40 s */
    {0.85, 178.0, 1.9031, 0.90, 0.96},   /* dodecylamine: t0 = 80 s */
};

/* One wash strips excess ligand and unreacted precursor; more strip the
 * surface ligands themselves and the crystals aggregate. */
static const double s_nc_wash_qy[S_NC_MAX_WASHES + 1] = {0.86, 1.00, 0.90, 0.72};
static const double s_nc_wash_fwhm[S_NC_MAX_WASHES + 1] = {2.5, 0.0, 0.6, 2.2};

/* Widths of the yield peak (ratio, degC, decades of time) and the
 * temperature-time coupling: hotter syntheses want shorter times. */
#define S_NC_W_RATIO 0.30
#define S_NC_W_TEMP 30.0
#define S_NC_W_LOGT 0.55
#define S_NC_RHO 0.35

/* Feasibility. Lead-rich, hot and long: PbBr2 complexes decompose. Cs-rich and
 * cold: Cs-oleate falls out of solution before injection. Each is a linear
 * score in (ratio, temperature, log time) exceeding 1. */
static double s_nc_decomp_score(double ratio, double temp, double log_t)
{
    return (0.55 - ratio) / 0.30 + (temp - 180.0) / 40.0 + (log_t - 2.00) / 0.70;
}

static double s_nc_precip_score(double ratio, double temp)
{
    return (ratio - 1.10) / 0.40 + (150.0 - temp) / 40.0;
}

static int s_nanocrystal(const double *x, double *y, const char **reason)
{
    double ratio = x[S_NC_RATIO], temp = x[S_NC_TEMP];
    double log_t = log10(x[S_NC_TIME]);
    int lig = (int)x[S_NC_LIGAND], washes = (int)x[S_NC_WASHES];

    if (s_nc_decomp_score(ratio, temp, log_t) > 1.0) {
        *reason = "lead-rich precursor decomposed: no nanocrystals formed";
        return LAB_EDRIVER;
    }
    if (s_nc_precip_score(ratio, temp) > 1.0) {
        *reason = "precursor precipitated: no nanocrystals formed";
        return LAB_EDRIVER;
    }
    *reason = NULL;

    const s_nc_ligand *L = &s_nc_lig[lig];
    double dr = (ratio - L->ratio0) / S_NC_W_RATIO;
    double dt = (temp - L->temp0) / S_NC_W_TEMP;
    double du = (log_t - L->log_time0) / S_NC_W_LOGT;
    double q = dr * dr + dt * dt + du * du + 2.0 * S_NC_RHO * dt * du;
    double qy = S_NC_QY_PEAK * L->qy_scale * s_nc_wash_qy[washes] * exp(-0.5 * q);

    /* Linewidth: narrowest slightly cooler, shorter and more lead-rich than
     * the yield optimum (smaller, more uniform crystals), broadened where
     * the yield is poor (defect emission, polydispersity). */
    double fr = (ratio - (L->ratio0 - 0.08)) / 0.45;
    double ft = (temp - (L->temp0 - 12.0)) / 40.0;
    double fu = (log_t - (L->log_time0 - 0.20)) / 0.80;
    double qf = fr * fr + ft * ft + fu * fu;
    double fwhm = L->fwhm_scale * (17.0 + 10.0 * qf) + 6.0 * (1.0 - qy / S_NC_QY_PEAK) +
                  s_nc_wash_fwhm[washes];

    y[0] = qy;
    y[1] = fwhm;
    return 0;
}

/* --------------------------------------------------------------- tables */

static const lab_model_input s_branin_in[2] = {
    {"x1", 0, -5.0, 10.0, NULL, 0, ""},
    {"x2", 0, 0.0, 15.0, NULL, 0, ""},
};
static const lab_model_input s_h3_in[3] = {
    {"x1", 0, 0.0, 1.0, NULL, 0, ""},
    {"x2", 0, 0.0, 1.0, NULL, 0, ""},
    {"x3", 0, 0.0, 1.0, NULL, 0, ""},
};
static const lab_model_input s_h6_in[6] = {
    {"x1", 0, 0.0, 1.0, NULL, 0, ""}, {"x2", 0, 0.0, 1.0, NULL, 0, ""},
    {"x3", 0, 0.0, 1.0, NULL, 0, ""}, {"x4", 0, 0.0, 1.0, NULL, 0, ""},
    {"x5", 0, 0.0, 1.0, NULL, 0, ""}, {"x6", 0, 0.0, 1.0, NULL, 0, ""},
};
static const lab_model_input s_nc_in[S_NC_N] = {
    {"cs_pb_ratio", 0, 0.2, 1.5, NULL, 0, ""},
    {"temperature", 0, 120.0, 220.0, NULL, 0, "degC"},
    {"time", 0, 5.0, 600.0, NULL, 0, "s"},
    {"ligand", 1, 0.0, S_NC_N_LIGANDS - 1, s_nc_ligands, S_NC_N_LIGANDS, ""},
    {"washes", 0, 0.0, S_NC_MAX_WASHES, NULL, 0, ""},
};

static const char *const s_out_value[1] = {"value"};
static const int s_min1[1] = {0};
static const double s_scale_branin[1] = {10.0};
static const double s_scale_hartmann[1] = {1.0};
static const char *const s_out_nc[2] = {"quantum_yield", "fwhm_nm"};
static const int s_max_nc[2] = {1, 0};
static const double s_scale_nc[2] = {1.0, 20.0};

static const s_spec s_specs[] = {
    {"branin", s_branin_in, 2, s_out_value, s_min1, s_scale_branin, 1, s_branin,
     {M_PI, 2.275}, 2},
    {"hartmann3", s_h3_in, 3, s_out_value, s_min1, s_scale_hartmann, 1, s_hartmann3,
     {0.114614, 0.555649, 0.852547}, 3},
    {"hartmann6", s_h6_in, 6, s_out_value, s_min1, s_scale_hartmann, 1, s_hartmann6,
     {0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573}, 6},
    {"nanocrystal_pl", s_nc_in, S_NC_N, s_out_nc, s_max_nc, s_scale_nc, 2, s_nanocrystal,
     {0}, 0},
};
#define S_N_SPECS (sizeof s_specs / sizeof s_specs[0])

static const char *const s_kinds[S_N_SPECS + 1] = {
    "branin", "hartmann3", "hartmann6", "nanocrystal_pl", NULL};

const char *const *lab_model_kinds(void)
{
    return s_kinds;
}

/* ------------------------------------------------------------ checking */

/* Validates x against the box and copies it into xr with categorical and
 * integer inputs rounded. Returns 0 or LAB_EINVAL with why filled. */
static int s_check_x(const s_spec *sp, const double *x, double *xr, char *why, size_t why_len)
{
    for (size_t i = 0; i < sp->n_inputs; i++) {
        const lab_model_input *in = &sp->inputs[i];
        if (!isfinite(x[i]) || x[i] < in->low || x[i] > in->high) {
            if (why && why_len)
                snprintf(why, why_len, "input '%s' = %g outside [%g, %g]", in->name, x[i],
                         in->low, in->high);
            return LAB_EINVAL;
        }
        /* Inputs with integer bounds in nanocrystal_pl are counts or indexes. */
        int integral = in->categorical || (sp->truth == s_nanocrystal && i == S_NC_WASHES);
        xr[i] = integral ? floor(x[i] + 0.5) : x[i];
    }
    return 0;
}

static void s_set_nan(const s_spec *sp, double *y)
{
    for (size_t i = 0; i < sp->n_outputs; i++)
        y[i] = NAN;
}

/* ------------------------------------------- nanocrystal optimum search */

/* Optimisation works in the unit cube u over (ratio, temperature, log time)
 * with fixed ligand and washes; s_nc_neg_qy is +inf outside the box or the
 * feasible region so Nelder-Mead never steps there. */
#define S_NC_NR 3

static void s_nc_from_unit(const double *u, int lig, int washes, double *x)
{
    const lab_model_input *in = s_nc_in;
    x[S_NC_RATIO] = in[S_NC_RATIO].low + u[0] * (in[S_NC_RATIO].high - in[S_NC_RATIO].low);
    x[S_NC_TEMP] = in[S_NC_TEMP].low + u[1] * (in[S_NC_TEMP].high - in[S_NC_TEMP].low);
    double l0 = log10(in[S_NC_TIME].low), l1 = log10(in[S_NC_TIME].high);
    x[S_NC_TIME] = pow(10.0, l0 + u[2] * (l1 - l0));
    if (x[S_NC_TIME] < in[S_NC_TIME].low)   /* pow rounding at the ends */
        x[S_NC_TIME] = in[S_NC_TIME].low;
    if (x[S_NC_TIME] > in[S_NC_TIME].high)
        x[S_NC_TIME] = in[S_NC_TIME].high;
    x[S_NC_LIGAND] = lig;
    x[S_NC_WASHES] = washes;
}

static double s_nc_neg_qy(const double *u, int lig, int washes)
{
    double x[S_NC_N], y[2];
    const char *reason;
    for (int k = 0; k < S_NC_NR; k++)
        if (!(u[k] >= 0.0 && u[k] <= 1.0))
            return INFINITY;
    s_nc_from_unit(u, lig, washes, x);
    if (s_nanocrystal(x, y, &reason) != 0)
        return INFINITY;
    return -y[0];
}

/* Nelder-Mead (standard coefficients) from u0, minimising s_nc_neg_qy.
 * Deterministic; u0 must be feasible. Leaves the best vertex in u0. */
static double s_nc_nelder_mead(double *u0, int lig, int washes)
{
    enum { N = S_NC_NR, MAX_ITER = 2000 };
    double p[N + 1][N], f[N + 1];
    for (int i = 0; i <= N; i++) {
        for (int k = 0; k < N; k++)
            p[i][k] = u0[k];
        if (i > 0)
            p[i][i - 1] += (u0[i - 1] > 0.5 ? -0.03 : 0.03);
        f[i] = s_nc_neg_qy(p[i], lig, washes);
    }
    for (int iter = 0; iter < MAX_ITER; iter++) {
        /* sort vertices by f (insertion sort, N+1 = 4) */
        for (int i = 1; i <= N; i++)
            for (int j = i; j > 0 && f[j] < f[j - 1]; j--) {
                double tf = f[j];
                f[j] = f[j - 1];
                f[j - 1] = tf;
                for (int k = 0; k < N; k++) {
                    double t = p[j][k];
                    p[j][k] = p[j - 1][k];
                    p[j - 1][k] = t;
                }
            }
        double size = 0.0;
        for (int i = 1; i <= N; i++)
            for (int k = 0; k < N; k++)
                size = fmax(size, fabs(p[i][k] - p[0][k]));
        if (size < 1e-10)
            break;
        double c[N], xr[N], xe[N], xc[N];
        for (int k = 0; k < N; k++) {
            c[k] = 0.0;
            for (int i = 0; i < N; i++)
                c[k] += p[i][k] / N;
        }
        for (int k = 0; k < N; k++)
            xr[k] = c[k] + (c[k] - p[N][k]);
        double fr = s_nc_neg_qy(xr, lig, washes);
        if (fr < f[0]) {
            for (int k = 0; k < N; k++)
                xe[k] = c[k] + 2.0 * (c[k] - p[N][k]);
            double fe = s_nc_neg_qy(xe, lig, washes);
            const double *src = fe < fr ? xe : xr;
            for (int k = 0; k < N; k++)
                p[N][k] = src[k];
            f[N] = fe < fr ? fe : fr;
            continue;
        }
        if (fr < f[N - 1]) {
            for (int k = 0; k < N; k++)
                p[N][k] = xr[k];
            f[N] = fr;
            continue;
        }
        for (int k = 0; k < N; k++)
            xc[k] = c[k] + 0.5 * (p[N][k] - c[k]);
        double fc = s_nc_neg_qy(xc, lig, washes);
        if (fc < f[N]) {
            for (int k = 0; k < N; k++)
                p[N][k] = xc[k];
            f[N] = fc;
            continue;
        }
        for (int i = 1; i <= N; i++) {
            for (int k = 0; k < N; k++)
                p[i][k] = p[0][k] + 0.5 * (p[i][k] - p[0][k]);
            f[i] = s_nc_neg_qy(p[i], lig, washes);
        }
    }
    int best = 0;
    for (int i = 1; i <= N; i++)
        if (f[i] < f[best])
            best = i;
    for (int k = 0; k < N; k++)
        u0[k] = p[best][k];
    return f[best];
}

/* Maximum quantum yield: for every ligand and wash count, the best point of
 * a 25^3 grid over (ratio, temperature, log time), polished by Nelder-Mead. */
static void s_nc_find_optimum(lab_model *m)
{
    enum { G = 25 };
    double best_f = INFINITY;
    for (int lig = 0; lig < S_NC_N_LIGANDS; lig++) {
        for (int w = 0; w <= S_NC_MAX_WASHES; w++) {
            double gu[S_NC_NR] = {0.5, 0.5, 0.5}, gf = INFINITY;
            for (int a = 0; a < G; a++)
                for (int b = 0; b < G; b++)
                    for (int c = 0; c < G; c++) {
                        double u[S_NC_NR] = {a / (G - 1.0), b / (G - 1.0), c / (G - 1.0)};
                        double f = s_nc_neg_qy(u, lig, w);
                        if (f < gf) {
                            gf = f;
                            memcpy(gu, u, sizeof gu);
                        }
                    }
            if (!isfinite(gf))
                continue;
            double f = s_nc_nelder_mead(gu, lig, w);
            if (f < best_f) {
                best_f = f;
                s_nc_from_unit(gu, lig, w, m->opt_x);
            }
        }
    }
    m->opt_y0 = -best_f;
}

/* --------------------------------------------------------------- public */

lab_model *lab_model_new(const char *kind, double noise, uint64_t seed, lab_err *err)
{
    const s_spec *sp = NULL;
    for (size_t i = 0; kind && i < S_N_SPECS; i++)
        if (strcmp(kind, s_specs[i].kind) == 0)
            sp = &s_specs[i];
    if (!sp) {
        char list[256];
        size_t off = 0;
        list[0] = '\0';
        for (size_t i = 0; i < S_N_SPECS && off < sizeof list; i++) {
            int n = snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "",
                             s_specs[i].kind);
            if (n < 0)
                break;
            off += (size_t)n;
        }
        lab_err_set(err, LAB_ENOTFOUND, "unknown model kind '%s' (kinds: %s)",
                    kind ? kind : "(null)", list);
        return NULL;
    }
    if (!isfinite(noise) || noise < 0.0) {
        lab_err_set(err, LAB_EINVAL, "model '%s': noise %g must be a finite number >= 0",
                    sp->kind, noise);
        return NULL;
    }
    lab_model *m = calloc(1, sizeof *m);
    if (!m) {
        lab_err_set(err, LAB_ENOMEM, "model '%s': out of memory", sp->kind);
        return NULL;
    }
    m->spec = sp;
    m->noise = noise;
    uint64_t sm = seed;
    for (int i = 0; i < 4; i++)
        m->rng[i] = s_splitmix64(&sm);
    if (sp->n_opt_x) {
        double y[S_MAX_OUTPUTS];
        const char *reason;
        memcpy(m->opt_x, sp->opt_x, sp->n_opt_x * sizeof m->opt_x[0]);
        sp->truth(m->opt_x, y, &reason);
        m->opt_y0 = y[0];
    } else {
        s_nc_find_optimum(m);
    }
    return m;
}

void lab_model_destroy(lab_model **m)
{
    if (m && *m) {
        free(*m);
        *m = NULL;
    }
}

size_t lab_model_n_inputs(const lab_model *m)
{
    return m->spec->n_inputs;
}

const lab_model_input *lab_model_input_at(const lab_model *m, size_t i)
{
    return i < m->spec->n_inputs ? &m->spec->inputs[i] : NULL;
}

size_t lab_model_n_outputs(const lab_model *m)
{
    return m->spec->n_outputs;
}

const char *lab_model_output_name(const lab_model *m, size_t i)
{
    return i < m->spec->n_outputs ? m->spec->outputs[i] : NULL;
}

int lab_model_output_maximize(const lab_model *m, size_t i)
{
    return i < m->spec->n_outputs ? m->spec->maximize[i] : 0;
}

static double s_gauss(lab_model *m)
{
    if (m->has_spare) {
        m->has_spare = 0;
        return m->spare;
    }
    double u1 = 1.0 - s_uniform(m->rng);   /* (0, 1]: log is finite */
    double u2 = s_uniform(m->rng);
    double r = sqrt(-2.0 * log(u1));
    m->spare = r * sin(2.0 * M_PI * u2);
    m->has_spare = 1;
    return r * cos(2.0 * M_PI * u2);
}

int lab_model_eval(lab_model *m, const double *x, double *y, char *why, size_t why_len)
{
    const s_spec *sp = m->spec;
    double xr[S_MAX_INPUTS];
    const char *reason = NULL;
    int rc = s_check_x(sp, x, xr, why, why_len);
    if (rc == 0)
        rc = sp->truth(xr, y, &reason);
    if (rc != 0) {
        s_set_nan(sp, y);
        if (reason && why && why_len)
            snprintf(why, why_len, "%s", reason);
        return rc;
    }
    if (why && why_len)
        why[0] = '\0';
    if (m->noise > 0.0) {
        for (size_t i = 0; i < sp->n_outputs; i++)
            y[i] += m->noise * sp->noise_scale[i] * s_gauss(m);
        if (sp->truth == s_nanocrystal) {
            y[0] = fmin(1.0, fmax(0.0, y[0]));
            y[1] = fmax(0.0, y[1]);
        }
    }
    return 0;
}

int lab_model_truth(const lab_model *m, const double *x, double *y)
{
    const s_spec *sp = m->spec;
    double xr[S_MAX_INPUTS];
    const char *reason;
    int rc = s_check_x(sp, x, xr, NULL, 0);
    if (rc == 0)
        rc = sp->truth(xr, y, &reason);
    if (rc != 0)
        s_set_nan(sp, y);
    return rc;
}

int lab_model_optimum(const lab_model *m, double *x, double *y0)
{
    memcpy(x, m->opt_x, m->spec->n_inputs * sizeof x[0]);
    *y0 = m->opt_y0;
    return 0;
}
