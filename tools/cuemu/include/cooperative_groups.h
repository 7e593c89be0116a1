/* cuemu stands in for <cooperative_groups.h>: see cuemu.h */
#include "cuemu.h"
