/* cuemu stands in for <cublasLt.h>: see cuemu.h */
#include "cuemu.h"
