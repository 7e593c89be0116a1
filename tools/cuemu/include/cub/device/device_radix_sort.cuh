/* cuemu stands in for <cub/device/device_radix_sort.cuh>: see cuemu.h */
#include "../../cuemu.h"
