// The hyperaccel kernels that registration.cpp registers: the boxed CPU fallback and its
// convolution wrappers (fallback.cpp) and the native structural ops (native_ops.cpp). The typed
// fast path is a header of templates (fast_path.h).
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <c10/core/Device.h>
#include <c10/core/Layout.h>
#include <c10/core/MemoryFormat.h>
#include <c10/core/Scalar.h>
#include <c10/core/ScalarType.h>
#include <c10/core/Storage.h>
#include <c10/core/Stream.h>
#include <c10/core/SymInt.h>
#include <c10/util/ArrayRef.h>

#include <cstdint>
#include <optional>
#include <tuple>

namespace hyperaccel {

// ---------------------------------------------------------------------------------------------
// Boxed CPU fallback (fallback.cpp)
// ---------------------------------------------------------------------------------------------

void cpu_fallback(const c10::OperatorHandle& op, torch::jit::Stack* stack);
void convolution_overrideable(const c10::OperatorHandle& op, torch::jit::Stack* stack);
void convolution_backward_overrideable(const c10::OperatorHandle& op, torch::jit::Stack* stack);

// ---------------------------------------------------------------------------------------------
// Native structural ops (native_ops.cpp)
// ---------------------------------------------------------------------------------------------

at::Tensor empty_memory_format(
    c10::IntArrayRef size, std::optional<c10::ScalarType> dtype,
    std::optional<c10::Layout> layout, std::optional<c10::Device> device,
    std::optional<bool> pin_memory, std::optional<c10::MemoryFormat> memory_format);
at::Tensor empty_strided(
    c10::IntArrayRef size, c10::IntArrayRef stride, std::optional<c10::ScalarType> dtype,
    std::optional<c10::Layout> layout, std::optional<c10::Device> device,
    std::optional<bool> pin_memory);
at::Tensor as_strided(const at::Tensor& self, c10::SymIntArrayRef size,
                      c10::SymIntArrayRef stride, std::optional<c10::SymInt> storage_offset);
at::Tensor view(const at::Tensor& self, c10::SymIntArrayRef size);
at::Tensor reshape_alias(const at::Tensor& self, c10::SymIntArrayRef size,
                         c10::SymIntArrayRef stride);
const at::Tensor& resize_(const at::Tensor& self, c10::SymIntArrayRef size,
                          std::optional<c10::MemoryFormat> memory_format);
at::Tensor copy_from(const at::Tensor& self, const at::Tensor& dst, bool non_blocking);
at::Tensor copy_from_and_resize(const at::Tensor& self, const at::Tensor& dst);
at::Scalar local_scalar_dense(const at::Tensor& self);
at::Tensor& set_storage(at::Tensor& self, c10::Storage source, int64_t storage_offset,
                        c10::IntArrayRef size, c10::IntArrayRef stride);
at::Tensor& set_source_storage(at::Tensor& self, c10::Storage source);
at::Tensor& set_source_tensor(at::Tensor& self, const at::Tensor& source);
at::Tensor& set_empty(at::Tensor& self);
void record_stream(at::Tensor& self, c10::Stream stream);

// ---------------------------------------------------------------------------------------------
// Scaled dot-product attention (sdpa.cpp) and the dense attention kernel (dense_attention.cpp)
// ---------------------------------------------------------------------------------------------

// PrivateUse1's SDPA choice: the OVERRIDEABLE backend, or the CPU's choice for the same tensors
// (run through the fallback) for what the kernel cannot do.
int64_t fused_sdp_choice(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
                         const std::optional<at::Tensor>& attn_mask, double dropout_p,
                         bool is_causal, std::optional<double> scale, bool enable_gqa);
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, c10::SymInt, c10::SymInt, at::Tensor,
           at::Tensor, at::Tensor>
fused_attention_overrideable(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
                             const std::optional<at::Tensor>& attn_bias, double dropout_p,
                             bool is_causal, bool return_debug_mask, std::optional<double> scale);
void fused_attention_overrideable_backward(const c10::OperatorHandle& op, torch::jit::Stack* stack);
// softmax(q k^T * scale + mask) v over [batch, heads, len, dim] tensors (GQA when key/value have
// fewer heads), with the FP32 logsumexp per query row: (out [B, Hq, L, Ev], lse [B, Hq, L]).
std::tuple<at::Tensor, at::Tensor> dense_attention(const at::Tensor& query, const at::Tensor& key,
                                                   const at::Tensor& value,
                                                   const std::optional<at::Tensor>& attn_mask,
                                                   bool is_causal, std::optional<double> scale);

} // namespace hyperaccel
