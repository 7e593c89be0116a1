/* Backend selection and the thin public wrappers around the vtable's memory functions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend_impl.h"
#include "cpu/cpu.h"
#include "longtail/error.h"

lt_backend *lt_backend_cpu(void) {
    static lt_backend *cpu;
    if (!cpu) cpu = lt__cpu_backend_create(); /* first call happens before any threads start */
    return cpu;
}

lt_backend *lt_backend_guard(void) { return lt__guard_backend_create(); }

int lt_backend_open(lt_backend **out, const char *spec) {
    *out = NULL;
    if (!spec || !strcmp(spec, "cpu")) *out = lt_backend_cpu();
    else if (!strcmp(spec, "guard")) *out = lt_backend_guard(); /* tests: the GPU's code paths on the CPU */
    else if (strncmp(spec, "cuda", 4) || (spec[4] != 0 && spec[4] != ':'))
        return lt_error(LT_ECONFIG, "device '%s': expected cpu, cuda or cuda:N (or guard, for tests)", spec);
    else return lt_backend_cuda(out, spec[4] ? atoi(spec + 5) : 0);
    return 0;
}

int lt_cuda_built(void) {
#ifdef LONGTAIL_HAVE_CUDA
    return 1;
#else
    return 0;
#endif
}

int lt_cuda_device_count(void) {
#ifdef LONGTAIL_HAVE_CUDA
    return lt__cuda_device_count();
#else
    return 0;
#endif
}

int lt_backend_cuda(lt_backend **out, int device) {
    *out = NULL;
#ifdef LONGTAIL_HAVE_CUDA
    int n = lt__cuda_device_count();
    if (n <= 0) return lt_error(LT_ENODEV, "no CUDA device");
    if (device < 0 || device >= n)
        return lt_error(LT_ENODEV, "CUDA device %d does not exist (%d visible)", device, n);
    return lt__cuda_backend_create(out, device);
#else
    (void)device;
    return lt_error(LT_ENOTSUP, "this longtail was built without CUDA (configure with a CUDA toolkit)");
#endif
}

const char *lt_backend_name(const lt_backend *be) { return be->name; }
lt_device lt_backend_device(const lt_backend *be) { return be->device; }
int lt_backend_sync(lt_backend *be) { return be->ops->sync(be); }
void lt_backend_set_math(lt_backend *be, lt_math math) { be->math = math; }
lt_math lt_backend_math(const lt_backend *be) { return be->math; }
const char *lt_math_name(lt_math m) { return m == LT_MATH_BF16 ? "bf16" : m == LT_MATH_TF32 ? "tf32" : "fp32"; }
int lt_backend_bf16_native(const lt_backend *be) { return be->device == LT_CUDA || lt__dnnl_available(); }
const char *lt_backend_describe(lt_backend *be) { return be->describe; }

void lt_backend_release(lt_backend *be) {
    if (be && be->ops->release) be->ops->release(be);
}

int lt_backend_alloc(lt_backend *be, void **ptr, size_t nbytes) {
    *ptr = NULL;
    if (nbytes == 0) return 0;
    return be->ops->alloc(be, ptr, nbytes);
}

void lt_backend_free(lt_backend *be, void *ptr) {
    if (ptr) be->ops->free(be, ptr);
}

int lt_backend_memcpy(lt_backend *be, void *dst, lt_device dst_dev, const void *src,
                      lt_device src_dev, size_t nbytes) {
    if (nbytes == 0) return 0;
    if ((dst_dev != LT_CPU && dst_dev != be->device) || (src_dev != LT_CPU && src_dev != be->device))
        return lt_error(LT_EDEVICE, "memcpy %s -> %s on the %s backend", lt_device_name(src_dev),
                        lt_device_name(dst_dev), be->name);
    return LT_CALL(be, memcpy, dst, dst_dev, src, src_dev, nbytes);
}

int lt_backend_host_alloc(lt_backend *be, void **ptr, size_t nbytes) {
    *ptr = NULL;
    if (be && be->ops->host_alloc) return be->ops->host_alloc(be, ptr, nbytes ? nbytes : 1);
    if (posix_memalign(ptr, 64, nbytes ? nbytes : 1)) {
        *ptr = NULL;
        return lt_error(LT_ENOMEM, "cannot allocate %zu bytes of host memory", nbytes);
    }
    return 0;
}

void lt_backend_host_free(lt_backend *be, void *ptr) {
    if (!ptr) return;
    if (be && be->ops->host_free) be->ops->host_free(be, ptr);
    else free(ptr);
}

int lt_backend_memset0(lt_backend *be, void *ptr, size_t nbytes) {
    return nbytes ? LT_CALL(be, memset0, ptr, nbytes) : 0;
}
