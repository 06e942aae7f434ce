/* Acquisition functions (EI, log-EI, UCB) and the normal helpers they need.
 * See acquisition.h. Not for: optimising acquisitions (gp.c).
 *
 * log-EI. With u = (best - mu)/sd, EI = sd h(u), h(u) = phi(u) + u Phi(u).
 * For u > -1 h is computed directly. Below, with t = -u and the Mills ratio
 * R(t) = Phi(-t)/phi(t) = sqrt(pi/2) erfcx(t/sqrt2), h(u) = phi(u)(1 - t R(t))
 * and log(1 - t R(t)) = log(-expm1(log(t R(t)))), accurate until
 * 1 - tR(t) ~ 1/t^2 drops under about 1e-14 (t > 1e7), where the asymptote
 * log h = log phi(u) - 2 log t is used. erfcx is exp(x^2) erfc(x) below 25
 * and its asymptotic series above.
 * d log EI / d mu = -Phi(u) / (sd h(u)), d log EI / d sd = phi(u) / (sd h(u)).
 */
#include "planners/acquisition.h"

#include <math.h>
#include <string.h>

#include "common/banned.h"

#define S_SQRT2 1.41421356237309504880
#define S_INV_SQRT_2PI 0.39894228040143267794
#define S_LOG_SQRT_2PI 0.91893853320467274178
#define S_SQRT_PI_2 1.25331413731550025121

int lab_acq_parse(const char *name)
{
    if (!name || !strcmp(name, "ei"))
        return LAB_ACQ_EI;
    if (!strcmp(name, "log_ei") || !strcmp(name, "logei") || !strcmp(name, "log-ei"))
        return LAB_ACQ_LOG_EI;
    if (!strcmp(name, "ucb") || !strcmp(name, "lcb"))
        return LAB_ACQ_UCB;
    return -1;
}

const char *lab_acq_name(lab_acq_kind k)
{
    return k == LAB_ACQ_LOG_EI ? "log_ei" : k == LAB_ACQ_UCB ? "ucb" : "ei";
}

double lab_acq_phi(double u)
{
    return S_INV_SQRT_2PI * exp(-0.5 * u * u);
}

double lab_acq_Phi(double u)
{
    return 0.5 * erfc(-u / S_SQRT2);
}

static double s_erfcx(double x)
{
    if (x < 25.0)
        return exp(x * x) * erfc(x);
    double x2 = x * x, inv = 1.0 / (2.0 * x2);
    /* 1/(x sqrt(pi)) (1 - 1/(2x^2) + 3/(4x^4) - 15/(8x^6) + 105/(16x^8)) */
    double s = 1.0 - inv + 3.0 * inv * inv - 15.0 * inv * inv * inv + 105.0 * inv * inv * inv * inv;
    return s / (x * 1.77245385090551602730);
}

double lab_acq_ei(double mu, double sd, double best, double *dmu, double *dsd)
{
    double u = (best - mu) / sd;
    double Phi = lab_acq_Phi(u), phi = lab_acq_phi(u);
    if (dmu)
        *dmu = -Phi;
    if (dsd)
        *dsd = phi;
    double ei = sd * (phi + u * Phi);
    return ei > 0.0 ? ei : 0.0;
}

double lab_acq_log_ei(double mu, double sd, double best, double *dmu, double *dsd)
{
    double u = (best - mu) / sd;
    double log_phi = -0.5 * u * u - S_LOG_SQRT_2PI;
    double log_h, r_Phi, r_phi; /* Phi(u)/h(u), phi(u)/h(u) */
    if (u > -1.0) {
        double Phi = lab_acq_Phi(u), phi = exp(log_phi);
        double h = phi + u * Phi;
        log_h = log(h);
        r_Phi = Phi / h;
        r_phi = phi / h;
    } else {
        double t = -u;
        double R = S_SQRT_PI_2 * s_erfcx(t / S_SQRT2);
        double log_1m;
        if (t < 1e7)
            log_1m = log(-expm1(log(t * R)));
        else
            log_1m = -2.0 * log(t);
        log_h = log_phi + log_1m;
        r_phi = exp(-log_1m);
        r_Phi = R * r_phi;
    }
    if (dmu)
        *dmu = -r_Phi / sd;
    if (dsd)
        *dsd = r_phi / sd;
    return log(sd) + log_h;
}

double lab_acq_ucb(double mu, double sd, double beta, double *dmu, double *dsd)
{
    double k = sqrt(beta > 0.0 ? beta : 0.0);
    if (dmu)
        *dmu = -1.0;
    if (dsd)
        *dsd = k;
    return -(mu - k * sd);
}
