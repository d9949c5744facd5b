// The dispatcher registrations of the hyperaccel device, in the manner of PyTorch's OpenReg
// (registrations apart from the kernels): the aten/PrivateUse1 kernel table (native ops, the typed
// fast path, boxed fallback overrides), the Conjugate and Negative fallthroughs, the PrivateUse1
// boxed fallback, and the PrivateUse1 kernel of the SDPA choice stub. The fused RNN cells register
// in rnn.cpp and the autocast policy in autocast.cpp, beside their code.
#include "fast_path.h"
#include "ops.h"

#include <ATen/Operators.h>
#include <ATen/native/DispatchStub.h>
#include <ATen/native/transformers/attention.h>
#include <torch/library.h>

namespace hyperaccel {

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) {
  m.impl("empty.memory_format", empty_memory_format);
  m.impl("empty_strided", empty_strided);
  m.impl("as_strided", as_strided);
  m.impl("view", view);
  m.impl("_reshape_alias", reshape_alias);
  m.impl("resize_", resize_);
  m.impl("_copy_from", copy_from);
  m.impl("_copy_from_and_resize", copy_from_and_resize);
  m.impl("_local_scalar_dense", local_scalar_dense);
  m.impl("set_.source_Storage_storage_offset", set_storage);
  m.impl("set_.source_Storage", set_source_storage);
  m.impl("set_.source_Tensor", set_source_tensor);
  m.impl("set_", set_empty);
  m.impl("record_stream", record_stream);
  m.impl("_fused_sdp_choice", TORCH_FN(fused_sdp_choice));  // the op; the stub is registered below
  m.impl("_scaled_dot_product_fused_attention_overrideable", TORCH_FN(fused_attention_overrideable));
  m.impl("_scaled_dot_product_fused_attention_overrideable_backward",
         torch::CppFunction::makeFromBoxedFunction<&fused_attention_overrideable_backward>());
  m.impl("convolution_overrideable",
         torch::CppFunction::makeFromBoxedFunction<&convolution_overrideable>());
  m.impl("convolution_backward_overrideable",
         torch::CppFunction::makeFromBoxedFunction<&convolution_backward_overrideable>());

  // The unboxed fast path (fast_path.h); every other op takes the boxed fallback.
  m.impl("add.Tensor", TORCH_FN(Functional<at::_ops::add_Tensor>::call));
  m.impl("sub.Tensor", TORCH_FN(Functional<at::_ops::sub_Tensor>::call));
  m.impl("mul.Tensor", TORCH_FN(Functional<at::_ops::mul_Tensor>::call));
  m.impl("div.Tensor", TORCH_FN(Functional<at::_ops::div_Tensor>::call));
  m.impl("neg", TORCH_FN(Functional<at::_ops::neg>::call));
  m.impl("exp", TORCH_FN(Functional<at::_ops::exp>::call));
  m.impl("cos", TORCH_FN(Functional<at::_ops::cos>::call));
  m.impl("sin", TORCH_FN(Functional<at::_ops::sin>::call));
  m.impl("sigmoid", TORCH_FN(Functional<at::_ops::sigmoid>::call));
  m.impl("gelu", TORCH_FN(Functional<at::_ops::gelu>::call));
  m.impl("clamp", TORCH_FN(Functional<at::_ops::clamp>::call));
  m.impl("pow.Tensor_Scalar", TORCH_FN(Functional<at::_ops::pow_Tensor_Scalar>::call));
  m.impl("rsqrt", TORCH_FN(Functional<at::_ops::rsqrt>::call));
  m.impl("silu", TORCH_FN(Functional<at::_ops::silu>::call));
  m.impl("mean.dim", TORCH_FN(Functional<at::_ops::mean_dim>::call));
  m.impl("sum.dim_IntList", TORCH_FN(Functional<at::_ops::sum_dim_IntList>::call));
  m.impl("_softmax", TORCH_FN(Functional<at::_ops::_softmax>::call));
  m.impl("_log_softmax", TORCH_FN(Functional<at::_ops::_log_softmax>::call));
  m.impl("argmax", TORCH_FN(Functional<at::_ops::argmax>::call));
  m.impl("topk", TORCH_FN(Functional<at::_ops::topk>::call));
  m.impl("where.self", TORCH_FN(Functional<at::_ops::where_self>::call));
  m.impl("mm", TORCH_FN(Functional<at::_ops::mm>::call));
  m.impl("addmm", TORCH_FN(Functional<at::_ops::addmm>::call));
  m.impl("bmm", TORCH_FN(Functional<at::_ops::bmm>::call));
  m.impl("cat", TORCH_FN(Functional<at::_ops::cat>::call));
  m.impl("index_select", TORCH_FN(Functional<at::_ops::index_select>::call));
  m.impl("index.Tensor", TORCH_FN(Functional<at::_ops::index_Tensor>::call));
  m.impl("_scaled_dot_product_flash_attention_for_cpu",
         TORCH_FN(Functional<at::_ops::_scaled_dot_product_flash_attention_for_cpu>::call));
  m.impl("_index_put_impl_", TORCH_FN(InPlace<at::_ops::_index_put_impl_>::call));
  m.impl("add_.Tensor", TORCH_FN(InPlace<at::_ops::add__Tensor>::call));
  m.impl("mul_.Tensor", TORCH_FN(InPlace<at::_ops::mul__Tensor>::call));
  m.impl("div_.Tensor", TORCH_FN(InPlace<at::_ops::div__Tensor>::call));
  m.impl("fill_.Scalar", TORCH_FN(InPlace<at::_ops::fill__Scalar>::call));
  m.impl("zero_", TORCH_FN(InPlace<at::_ops::zero_>::call));
  m.impl("masked_fill_.Scalar", TORCH_FN(InPlace<at::_ops::masked_fill__Scalar>::call));

  // These ops have a CPU kernel and also a CompositeExplicitAutograd one, which PrivateUse1
  // would take over the fallback: slower, and rounding differently from CPU (layer norm).
  for (const char* name :
       {"native_layer_norm", "native_group_norm", "addr", "addr.out", "all.dims_out",
        "any.dims_out", "narrow_copy", "pixel_shuffle", "pixel_unshuffle", "_stack",
        "_stack.out", "linalg__powsum"}) {
    m.impl(name, torch::CppFunction::makeFromBoxedFunction<&cpu_fallback>());
  }
}

// _copy_from copies conjugate and negative views itself (the CPU copy kernel resolves the
// bits); without these fallthroughs their fallbacks would materialise the source by a clone,
// which copies through _copy_from again, forever.
TORCH_LIBRARY_IMPL(aten, Conjugate, m) {
  m.impl("_copy_from", torch::CppFunction::makeFallthrough());
  m.impl("_copy_from_and_resize", torch::CppFunction::makeFallthrough());
}

TORCH_LIBRARY_IMPL(aten, Negative, m) {
  m.impl("_copy_from", torch::CppFunction::makeFallthrough());
  m.impl("_copy_from_and_resize", torch::CppFunction::makeFallthrough());
}

TORCH_LIBRARY_IMPL(_, PrivateUse1, m) {
  m.fallback(torch::CppFunction::makeFromBoxedFunction<&cpu_fallback>());
}

} // namespace hyperaccel

namespace at::native {
REGISTER_PRIVATEUSE1_DISPATCH(_fused_sdp_choice_stub, &hyperaccel::fused_sdp_choice);
} // namespace at::native
