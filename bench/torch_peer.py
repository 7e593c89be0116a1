"""What the PyTorch peers of the benchmarks (bench/*_torch.py, bench/*_ref.py) share, so that each runs the
same under Debian's torch 1.13 (CPU only) and under a recent torch 2.x with CUDA, by feature tests rather
than version numbers:

  device(name)   torch.device(name); CUDA asked for where this torch sees no CUDA device (a CPU-only
                 build, no GPU, or longtail's guarded device standing in for one: LONGTAIL_BENCH_DEVICE=guard)
                 prints one JSON line {"skipped": why, "torch": version} and exits 0, which the benchmark
                 reports as a skipped column instead of a crash
  set_tf32(on)   TF32 for fp32 GEMMs and cuDNN (convolutions, RNNs) on or off: torch >= 2.9's fp32_precision
                 settings where they exist (2.9 deprecates the allow_tf32 flags and rejects reading them
                 after the new ones were set), else the allow_tf32 flags (torch 1.7 .. 2.8)
  sync(dev)      wait for the device's queued work (a no-op on the CPU): every timed region ends with it
  sdpa_info()    which fused attention F.scaled_dot_product_attention may use here (torch >= 2.0), or why none

Imported from the scripts' own folder (python puts it first on sys.path), after torch is known to import.
"""
import json
import sys

import torch


def skip(why):
    print(json.dumps({"skipped": why, "torch": torch.__version__}), flush=True)
    sys.exit(0)


def device(name):
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        skip("torch %s sees no CUDA device (%s)" % (
            torch.__version__, "built without CUDA" if torch.version.cuda is None else "CUDA %s build" % torch.version.cuda))
    return dev


def set_tf32(on):
    mode = "tf32" if on else "ieee"
    # the feature test is on the module torch.backends: hasattr(torch.backends.cuda.matmul, ...) raises
    # AssertionError ("Unknown attribute") instead of answering False on torch 1.x
    if hasattr(torch.backends, "fp32_precision"):  # torch >= 2.9
        torch.backends.cuda.matmul.fp32_precision = mode
        torch.backends.cudnn.conv.fp32_precision = mode
        torch.backends.cudnn.rnn.fp32_precision = mode
    else:
        torch.backends.cuda.matmul.allow_tf32 = on
        torch.backends.cudnn.allow_tf32 = on
    return "TF32" if on else "fp32 (no TF32)"


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def sdpa_info(dev):
    if not hasattr(torch.nn.functional, "scaled_dot_product_attention"):
        return "explicit softmax (torch %s has no scaled_dot_product_attention)" % torch.__version__
    if dev.type != "cuda":
        return "sdpa (cpu)"
    on = [name for name, flag in (("flash", "flash_sdp_enabled"), ("mem_efficient", "mem_efficient_sdp_enabled"),
                                  ("cudnn", "cudnn_sdp_enabled"), ("math", "math_sdp_enabled"))
          if getattr(torch.backends.cuda, flag, lambda: False)()]
    return "sdpa, backends enabled: %s (torch picks the first that fits)" % ",".join(on)
