/* cuemu stands in for <cublas_v2.h>: see cuemu.h */
#include "cuemu.h"
