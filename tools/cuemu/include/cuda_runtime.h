/* cuemu stands in for <cuda_runtime.h>: see cuemu.h */
#include "cuemu.h"
