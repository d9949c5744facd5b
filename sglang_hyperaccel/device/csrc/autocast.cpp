// Autocast (`torch.autocast("hyperaccel")`) for the AutocastPrivateUse1 key, as OpenReg's
// amp/autocast_mode.cpp. The LPU multiplies in FP16/BF16 with FP32 accumulation, like a GPU's
// tensor cores, so the op policy is CUDA's, reused from PyTorch's shared lists: matmuls and
// convolutions run in the autocast dtype, numerically sensitive ops (exp, log, norms, losses) in
// FP32, mixed-input ops at the widest input type. Every other op passes through unchanged.
#include <ATen/autocast_mode.h>
#include <torch/library.h>

namespace hyperaccel {

TORCH_LIBRARY_IMPL(_, AutocastPrivateUse1, m) {
  m.fallback(torch::CppFunction::makeFallthrough());
}

#define HYPERACCEL_LOWER(...) KERNEL_PRIVATEUSEONE(__VA_ARGS__, lower_precision_fp)
#define HYPERACCEL_FP32(...) KERNEL_PRIVATEUSEONE(__VA_ARGS__, fp32)
#define HYPERACCEL_FP32_SET_OPT_DTYPE(...) KERNEL_PRIVATEUSEONE(__VA_ARGS__, fp32_set_opt_dtype)
#define HYPERACCEL_PROMOTE(...) KERNEL_PRIVATEUSEONE(__VA_ARGS__, promote)
#define HYPERACCEL_REDISPATCH(FUNC, NAME, SIGNATURE, REDISPATCH_SIGNATURE, POLICY) \
  KERNEL_DIFFERENT_REDISPATCH_SIGNATURE_PRIVATEUSEONE(FUNC, NAME, SIGNATURE, REDISPATCH_SIGNATURE, POLICY)

TORCH_LIBRARY_IMPL(aten, AutocastPrivateUse1, m) {
  using at::Scalar;
  using at::ScalarType;
  using at::Tensor;
  using c10::IntArrayRef;
  AT_FORALL_LOWER_PRECISION_FP(HYPERACCEL_LOWER)
  AT_FORALL_FP32(HYPERACCEL_FP32)
  AT_FORALL_FP32_SET_OPT_DTYPE(HYPERACCEL_FP32_SET_OPT_DTYPE)
  AT_FORALL_DIFFERENT_REDISPATCH_SIGNATURE(HYPERACCEL_REDISPATCH)
  AT_FORALL_PROMOTE(HYPERACCEL_PROMOTE)
}

} // namespace hyperaccel
