/* The engine's compile-time choices. This default (single rounding) serves the kernels compiled
 * on their own; the generator writes each engine's own copy (engine/mcd_config.h) from its graph. */
#ifndef MCD_CONFIG_H
#define MCD_CONFIG_H
#ifndef MCD_ROUNDING_DOUBLE
#define MCD_ROUNDING_DOUBLE 0
#endif
#endif
