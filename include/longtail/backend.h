/* Backends: where ops run. The CPU backend always exists; the CUDA backend exists when the
 * build found the CUDA toolkit and the machine has a device. Models hold an lt_backend* and
 * call the ops in ops.h; they never call CUDA or BLAS themselves. */
#ifndef LONGTAIL_BACKEND_H
#define LONGTAIL_BACKEND_H

#include "longtail/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How GEMMs multiply fp32 data. On CUDA, TF32 and BF16 use tensor cores with fp32 accumulation
 * (inputs rounded to 10-bit / 7-bit mantissas). On the CPU, BF16 runs large GEMMs on the CPU's bf16
 * units (AMX or AVX512-BF16, through oneDNN) with fp32 accumulation where the build and the CPU have
 * them (lt_backend_bf16_native), and everything else in fp32; TF32 means fp32 there. */
typedef enum { LT_MATH_FP32 = 0, LT_MATH_TF32, LT_MATH_BF16 } lt_math;

/* The process-wide CPU backend (created on first use: picks the BLAS kernel, see src/cpu/blas.c). */
lt_backend *lt_backend_cpu(void);

/* The guarded device (created on first use): the CPU's kernels, but its memory is a device's that only
 * ops may touch; host code that reads or writes it outside an op aborts with a backtrace. A test of
 * the code paths a GPU takes, on any machine (src/cpu/guard.c). */
lt_backend *lt_backend_guard(void);

/* The backend a device name names: "cpu" (or NULL), "guard", "cuda" (device 0) or "cuda:N".
 * LT_ECONFIG naming the name when it is none of these; the errors of lt_backend_cuda. */
int lt_backend_open(lt_backend **out, const char *spec);

/* Open CUDA device `device`. LT_ENOTSUP when built without CUDA, LT_ENODEV when no such device. */
int lt_backend_cuda(lt_backend **out, int device);
/* Number of usable CUDA devices (0 when none or built without CUDA). Never fails. */
int lt_cuda_device_count(void);
/* Whether this binary was built with the CUDA backend. */
int lt_cuda_built(void);

const char *lt_backend_name(const lt_backend *be);
lt_device lt_backend_device(const lt_backend *be);
/* Wait for queued work; reports any asynchronous error. */
int lt_backend_sync(lt_backend *be);
void lt_backend_set_math(lt_backend *be, lt_math math);
lt_math lt_backend_math(const lt_backend *be);
/* "fp32", "tf32", "bf16" */
const char *lt_math_name(lt_math math);
/* 1 when LT_MATH_BF16 runs on bf16 hardware here (CUDA tensor cores; CPU AMX / AVX512-BF16), so
 * it is worth choosing by default. */
int lt_backend_bf16_native(const lt_backend *be);
/* Release a backend from lt_backend_cuda (the CPU backend ignores this). */
void lt_backend_release(lt_backend *be);

/* Raw memory on the backend's device. */
int lt_backend_alloc(lt_backend *be, void **ptr, size_t nbytes);
void lt_backend_free(lt_backend *be, void *ptr);
/* Copy nbytes between any two devices (host <-> device, device <-> device). */
int lt_backend_memcpy(lt_backend *be, void *dst, lt_device dst_dev, const void *src,
                      lt_device src_dev, size_t nbytes);
int lt_backend_memset0(lt_backend *be, void *ptr, size_t nbytes);
/* Host memory for transfers: page-locked on CUDA (copies run at full bus speed and without a
 * staging copy), ordinary aligned memory on the CPU backend. */
int lt_backend_host_alloc(lt_backend *be, void **ptr, size_t nbytes);
void lt_backend_host_free(lt_backend *be, void *ptr);

/* A one-line description of the backend: BLAS kernel and threads, or GPU name and memory. */
const char *lt_backend_describe(lt_backend *be);

#ifdef __cplusplus
}
#endif
#endif
