// `F.scaled_dot_product_attention` on the device: the SDPA kernel choice for PrivateUse1 and the
// OVERRIDEABLE backend's op, run by the chip's dense attention kernel (dense_attention.cpp).
//
// The kernel is forward only. Calls it cannot serve pick the backend the same tensors would pick
// on CPU (run by the CPU fallback, backward included): dropout, inputs that autograd will
// differentiate (the overrideable backward is not implemented), other than 4-D floating inputs,
// and mismatched head counts without `enable_gqa` (for which PyTorch raises its own error).
#include "aliasing.h"
#include "ops.h"

#include <ATen/ATen.h>
#include <ATen/SDPBackend.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/_fused_sdp_choice.h>

namespace hyperaccel {

int64_t fused_sdp_choice(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
                         const std::optional<at::Tensor>& attn_mask, double dropout_p,
                         bool is_causal, std::optional<double> scale, bool enable_gqa) {
  const bool needs_grad = at::GradMode::is_enabled() &&
      (query.requires_grad() || key.requires_grad() || value.requires_grad() ||
       (attn_mask.has_value() && attn_mask->defined() && attn_mask->requires_grad()));
  const bool dense = query.dim() == 4 && key.dim() == 4 && value.dim() == 4 && !query.is_nested() &&
      at::isFloatingType(query.scalar_type()) && query.scalar_type() != at::kDouble;
  const bool heads_ok = dense && key.size(1) > 0 && (enable_gqa ? query.size(1) % key.size(1) == 0 : query.size(1) == key.size(1));
  if (dropout_p == 0.0 && !needs_grad && dense && heads_ok) {
    return static_cast<int64_t>(at::SDPBackend::overrideable);
  }
  Call call(/*same_device=*/true);
  std::optional<at::Tensor> mask;
  if (attn_mask.has_value() && attn_mask->defined()) {
    mask = on_chip(*attn_mask) ? call.to_cpu(*attn_mask, false) : *attn_mask;
  }
  return at::_fused_sdp_choice(call.to_cpu(query, false), call.to_cpu(key, false),
                               call.to_cpu(value, false), mask, dropout_p, is_causal, scale, enable_gqa);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, c10::SymInt, c10::SymInt, at::Tensor,
           at::Tensor, at::Tensor>
fused_attention_overrideable(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
                             const std::optional<at::Tensor>& attn_bias, double dropout_p,
                             bool is_causal, bool return_debug_mask, std::optional<double> scale) {
  TORCH_CHECK(dropout_p == 0.0, "hyperaccel attention: dropout is not supported by the chip's kernel "
              "(scaled_dot_product_attention picks the CPU's backend for it, run through the fallback)");
  TORCH_CHECK(!return_debug_mask, "hyperaccel attention: return_debug_mask is not supported");
  auto [out, lse] = dense_attention(query, key, value, attn_bias, is_causal, scale);
  const at::TensorOptions index = query.options().dtype(at::kLong);
  return {out, lse, at::Tensor(), at::Tensor(), c10::SymInt(query.size(2)), c10::SymInt(key.size(2)),
          at::empty({}, index), at::empty({}, index), at::Tensor()};
}

void fused_attention_overrideable_backward(const c10::OperatorHandle& /*op*/, torch::jit::Stack* /*stack*/) {
  TORCH_CHECK_NOT_IMPLEMENTED(false,
      "aten::_scaled_dot_product_fused_attention_overrideable_backward is not implemented for the "
      "hyperaccel device: the chip's attention kernel is forward only. scaled_dot_product_attention "
      "picks the CPU's backend whenever its inputs require grad, so this is reached only by calling "
      "the overrideable op directly.");
}

} // namespace hyperaccel
